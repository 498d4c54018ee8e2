"""Score-matching losses and the conversion from a network's raw output to a score.

A network function `net_fn(x, time_cond) -> output` is the model with its parameters (and
dropout key) already bound. `get_score_fn` turns it into `score_fn(x, t)` with the label
conventions of the reference code, so reference checkpoints work unchanged.
"""

from typing import Callable

import jax
import jax.numpy as jnp

from score_sde.sde import SDE, VESDE, VPSDE, SubVPSDE, batch_broadcast

Array = jax.Array
NetFn = Callable[[Array, Array], Array]
ScoreFn = Callable[[Array, Array], Array]
# net_apply(params, x, time_cond, dropout_rng or None, labels or None) -> network output
NetApply = Callable[[object, Array, Array, Array | None], Array]


def get_score_fn(sde: SDE, net_fn: NetFn, continuous: bool) -> ScoreFn:
    """Wraps a network as score_fn(x, t), t (B,) in [0, T].

    VP / sub-VP: the network sees t (N - 1) (continuous: t * 999) and predicts noise;
      score = -output / std(t) (discrete VP: std from the DDPM schedule).
    VE: the network sees sigma(t) (continuous) or round((T - t)(N - 1)) (discrete) and
      its output is the score (it divides by sigma itself when `scale_by_sigma`).
    """
    if isinstance(sde, (VPSDE, SubVPSDE)):

        def score_fn(x, t):
            if continuous or isinstance(sde, SubVPSDE):
                output = net_fn(x, t * 999.0)
                std = sde.marginal_prob(jnp.zeros_like(x), t)[1]
            else:
                labels = t * (sde.N - 1)
                output = net_fn(x, labels)
                std = sde.sqrt_1m_alphas_cumprod[labels.astype(jnp.int32)]
            return -output / batch_broadcast(std, x)

        return score_fn

    if isinstance(sde, VESDE):

        def score_fn(x, t):
            if continuous:
                labels = sde.marginal_prob(jnp.zeros_like(x), t)[1]
            else:
                labels = jnp.round((sde.T - t) * (sde.N - 1)).astype(jnp.int32)
            return net_fn(x, labels)

        return score_fn

    raise ValueError(f"get_score_fn: unsupported SDE {type(sde).__name__}; expected VPSDE, SubVPSDE or VESDE")


def _reduce(values: Array, reduce_mean: bool) -> Array:
    """Per-example reduction over all but the batch axis: mean, or half the sum (reference)."""
    flat = jnp.reshape(values, (values.shape[0], -1))
    return jnp.mean(flat, axis=-1) if reduce_mean else 0.5 * jnp.sum(flat, axis=-1)


def dsm_loss(
    rng: Array,
    sde: SDE,
    score_fn: ScoreFn,
    batch: Array,
    *,
    reduce_mean: bool = True,
    likelihood_weighting: bool = False,
    eps: float = 1e-5,
) -> Array:
    """Continuous denoising score matching, averaged over the batch.

    t ~ U(eps, T), x_t = mean(x_0, t) + std(t) z. Without likelihood weighting the loss is
    |std * score(x_t, t) + z|^2 (lambda(t) = std^2); with it, g(t)^2 |score + z / std|^2.
    """
    t_rng, z_rng = jax.random.split(rng)
    t = jax.random.uniform(t_rng, (batch.shape[0],), minval=eps, maxval=sde.T)
    z = jax.random.normal(z_rng, batch.shape)
    mean, std = sde.marginal_prob(batch, t)
    std_b = batch_broadcast(std, batch)
    score = score_fn(mean + std_b * z, t)
    if likelihood_weighting:
        g2 = sde.sde(jnp.zeros_like(batch), t)[1] ** 2
        losses = _reduce(jnp.square(score + z / std_b), reduce_mean) * g2
    else:
        losses = _reduce(jnp.square(score * std_b + z), reduce_mean)
    return jnp.mean(losses)


def ddpm_loss(rng: Array, sde: VPSDE, net_fn: NetFn, batch: Array, *, reduce_mean: bool = True) -> Array:
    """Discrete DDPM loss |eps_theta(x_i, i) - z|^2 with x_i = sqrt(abar_i) x_0 + sqrt(1 - abar_i) z."""
    if not isinstance(sde, VPSDE):
        raise ValueError(f"the discrete DDPM loss needs a VPSDE; got {type(sde).__name__}")
    label_rng, z_rng = jax.random.split(rng)
    labels = jax.random.randint(label_rng, (batch.shape[0],), 0, sde.N)
    z = jax.random.normal(z_rng, batch.shape)
    perturbed = (
        batch_broadcast(sde.sqrt_alphas_cumprod[labels], batch) * batch
        + batch_broadcast(sde.sqrt_1m_alphas_cumprod[labels], batch) * z
    )
    return jnp.mean(_reduce(jnp.square(net_fn(perturbed, labels) - z), reduce_mean))


def smld_loss(rng: Array, sde: VESDE, net_fn: NetFn, batch: Array, *, reduce_mean: bool = False) -> Array:
    """Discrete SMLD (NCSN) loss sigma_i^2 |s_theta(x + sigma_i z, i) + z / sigma_i|^2.

    Label i indexes the sigmas from largest (0) to smallest (N - 1), as in the reference.
    """
    if not isinstance(sde, VESDE):
        raise ValueError(f"the discrete SMLD loss needs a VESDE; got {type(sde).__name__}")
    label_rng, z_rng = jax.random.split(rng)
    labels = jax.random.randint(label_rng, (batch.shape[0],), 0, sde.N)
    sigmas = batch_broadcast(jnp.flip(sde.discrete_sigmas)[labels], batch)
    noise = jax.random.normal(z_rng, batch.shape) * sigmas
    target = -noise / sigmas**2
    losses = _reduce(jnp.square(net_fn(batch + noise, labels) - target), reduce_mean)
    return jnp.mean(losses * jnp.reshape(sigmas, (-1,)) ** 2)


def get_loss_fn(
    sde: SDE,
    net_apply: NetApply,
    *,
    continuous: bool = True,
    reduce_mean: bool = False,
    likelihood_weighting: bool = False,
    eps: float = 1e-5,
    train: bool = True,
) -> Callable[..., Array]:
    """Returns loss_fn(params, rng, batch, labels=None) -> scalar for the chosen training mode
    (`labels` (B,) for a class-conditional network).

    Continuous training uses `dsm_loss`; discrete training uses `ddpm_loss` for VP and
    `smld_loss` for VE (the discrete sub-VP SDE has no loss, as in the reference).
    """
    if not continuous and not isinstance(sde, (VPSDE, VESDE)):
        raise ValueError(
            f"training.continuous=False needs training.sde 'vpsde' or 'vesde'; got {type(sde).__name__}"
        )

    def loss_fn(params, rng, batch, labels=None):
        loss_rng, dropout_rng = jax.random.split(rng)
        net_fn = lambda x, cond: net_apply(params, x, cond, dropout_rng if train else None, labels)
        if continuous:
            score_fn = get_score_fn(sde, net_fn, continuous=True)
            return dsm_loss(
                loss_rng, sde, score_fn, batch,
                reduce_mean=reduce_mean, likelihood_weighting=likelihood_weighting, eps=eps,
            )
        if isinstance(sde, VESDE):
            return smld_loss(loss_rng, sde, net_fn, batch, reduce_mean=reduce_mean)
        return ddpm_loss(loss_rng, sde, net_fn, batch, reduce_mean=reduce_mean)

    return loss_fn
