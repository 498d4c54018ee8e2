"""VDM's learned noise schedule (Kingma et al. 2021): a VP path whose log-SNR is a monotone network.

gamma(t) = -log SNR(t) = gamma_0 + (gamma_1 - gamma_0) psi(t) with psi: [0, 1] -> [0, 1]
increasing, psi(0) = 0, psi(1) = 1, and a^2 = sigmoid(-gamma), s^2 = sigmoid(gamma). psi is the
paper's monotone network, normalised: psi~(t) = w t + l3(phi(l2(2 t - 1))) / F with |.| on
every weight (so non-decreasing for any parameter value, increasing when w != 0), phi(h) =
2 sigmoid(h) - 1, and F features; psi = (psi~(t) - psi~(0)) / (psi~(1) - psi~(0)). The
endpoints gamma_0 and gamma_1 = gamma_0 + |range| are parameters of their own, so they are
exactly what the parameters say. The diffusion part of the variational bound depends on psi
only through its variance, which `score_sde.variational_bound` uses to train psi.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from score_sde._types import Array
from score_sde.sde.base import SDE, SDES, check_steps
from score_sde.settings import AT_LEAST_ONE, POSITIVE, Setting

DEFAULT_FEATURES = 1024
VDM_GAMMA_MIN, VDM_GAMMA_MAX = -13.3, 5.0  # VDM's CIFAR-10 endpoints
VDM_KERNEL_STD = 0.01  # VDM's l2 and l3 kernels: flax.linen.initializers.normal(), whose default std is 0.01


def init_schedule(
    rng: Array, gamma_min: float, gamma_max: float, features: int = DEFAULT_FEATURES, kernel_std: float = VDM_KERNEL_STD
) -> dict:
    """Schedule parameters with endpoints gamma(0) = gamma_min and gamma(1) = gamma_max, starting where
    VDM's code starts: its NoiseSchedule_NNet gamma(t) = gamma_min + (gamma_max - gamma_min) t +
    l3(phi(l2(2 t - 1))) / F, l2 and l3 drawn from N(0, kernel_std^2) (flax's normal(), std 0.01), is
    gamma_min + (gamma_max - gamma_min) psi~(t) here with w = 1 and l3 divided by gamma_max - gamma_min:
    the same function, linear to about 1e-10 at VDM's std. A larger kernel_std (1) makes the features
    phi(l2 .) nonlinear in t from the start, so the shape's gradient does not wait for l2 to grow."""
    if not gamma_min < gamma_max:
        raise ValueError(f"the schedule needs gamma_min < gamma_max; got {gamma_min}, {gamma_max}")
    if not kernel_std > 0:
        raise ValueError(f"the schedule's kernel_std must be positive; got {kernel_std}")
    l2_rng, l3_rng = jax.random.split(rng)
    return {
        "gamma_min": jnp.asarray(gamma_min, jnp.float32),
        "gamma_range": jnp.asarray(gamma_max - gamma_min, jnp.float32),
        "linear": jnp.ones((), jnp.float32),
        "l2_kernel": kernel_std * jax.random.normal(l2_rng, (features,)),
        "l2_bias": jnp.zeros((features,)),
        "l3_kernel": kernel_std * jax.random.normal(l3_rng, (features,)) / (gamma_max - gamma_min),
    }


def _unnormalised_shape(params: dict, t: Array) -> Array:
    """psi~(t) for scalar parameters and t of any shape (elementwise)."""
    hidden = 2.0 * jax.nn.sigmoid(jnp.abs(params["l2_kernel"]) * (2.0 * t[..., None] - 1.0) + params["l2_bias"]) - 1.0
    features = params["l2_kernel"].shape[-1]
    return jnp.abs(params["linear"]) * t + hidden @ jnp.abs(params["l3_kernel"]) / features


def schedule_gamma(params: dict, t: Array) -> Array:
    """gamma(t) = -log SNR(t), elementwise in t, for one set of schedule parameters."""
    t = jnp.asarray(t, jnp.float32)
    ends = _unnormalised_shape(params, jnp.array([0.0, 1.0]))
    psi = (_unnormalised_shape(params, t) - ends[0]) / jnp.maximum(ends[1] - ends[0], 1e-12)
    return params["gamma_min"] + jnp.abs(params["gamma_range"]) * psi


@SDES.register("learned_vp")
class LearnedVPPath(eqx.Module, SDE):
    """The VP path of a learned schedule on t in [0, 1], prior N(0, I).

    `params` is the schedule's pytree (`init_schedule`; by default VDM's initial schedule from
    gamma -13.3 to 5); its arrays are traced, so a process with other parameters reuses compiled
    samplers. With `per_example`, every leaf carries a leading
    batch axis and example i of a batch uses parameters i (the bound's per-example gradients).
    """

    params: dict = eqx.field(default_factory=lambda: init_schedule(jax.random.PRNGKey(0), VDM_GAMMA_MIN, VDM_GAMMA_MAX))
    N: int = eqx.field(static=True, default=1000)
    eps: float = eqx.field(static=True, default=1e-5)
    per_example: bool = eqx.field(static=True, default=False)
    T = 1.0

    def __post_init__(self):
        check_steps(self.N)

    @classmethod
    def from_config(cls, model) -> "LearnedVPPath":
        """The initial schedule of config.model.gamma_min, gamma_max, schedule_features and
        schedule_init_std, with num_scales (N); the shape's random weights come from a fixed key."""
        params = init_schedule(
            jax.random.PRNGKey(0),
            float(model.gamma_min),
            float(model.gamma_max),
            int(model.schedule_features),
            float(model.schedule_init_std),
        )
        return cls(params, N=int(model.num_scales))

    def with_params(self, params: dict) -> "LearnedVPPath":
        return LearnedVPPath(params, self.N, self.eps, self.per_example)

    def gamma(self, t: Array) -> Array:
        t = jnp.asarray(t, jnp.float32)
        if self.per_example:
            return jax.vmap(schedule_gamma)(self.params, t)
        return schedule_gamma(self.params, t)

    def gamma_and_derivative(self, t: Array) -> tuple[Array, Array]:
        """(gamma(t), d gamma / dt), both shaped like t."""
        t = jnp.asarray(t, jnp.float32)
        return jax.jvp(self.gamma, (t,), (jnp.ones_like(t),))

    def log_snr(self, t):
        return -self.gamma(t)

    def marginal_coefficients(self, t):
        gamma = self.gamma(t)
        return jnp.sqrt(jax.nn.sigmoid(-gamma)), jnp.sqrt(jax.nn.sigmoid(gamma))

    def drift_coefficient(self, t):
        """f = d log a / dt = -gamma' sigmoid(gamma) / 2."""
        gamma, d_gamma = self.gamma_and_derivative(t)
        return -0.5 * d_gamma * jax.nn.sigmoid(gamma)

    def diffusion_squared(self, t):
        """g^2 = d s^2 / dt - 2 f s^2 = gamma' sigmoid(gamma) (the VP form beta = g^2)."""
        gamma, d_gamma = self.gamma_and_derivative(t)
        return d_gamma * jax.nn.sigmoid(gamma)

    def endpoints(self) -> tuple[Array, Array]:
        """(gamma(0), gamma(1))."""
        return self.params["gamma_min"], self.params["gamma_min"] + jnp.abs(self.params["gamma_range"])

    @property
    def prior_std(self) -> float:
        return 1.0


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "model.gamma_min": Setting(
        -13.3, "learned_vp: the schedule's initial gamma(0) = -log SNR(0) (VDM)", below="model.gamma_max"
    ),
    "model.gamma_max": Setting(5.0, "learned_vp: the schedule's initial gamma(1)"),
    "model.schedule_features": Setting(1024, "learned_vp: width of the monotone schedule network", AT_LEAST_ONE),
    "model.schedule_init_std": Setting(
        0.01, "learned_vp: std of its initial l2, l3 kernels (VDM's code: 0.01)", POSITIVE
    ),
}
