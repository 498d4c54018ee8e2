"""The MeanFlow objective (Geng et al. 2025): a network of the linear path's average velocity
u(z, r, t) trained by the MeanFlow identity (`score_sde.few_step.mean_flow`), sampled in one or a
few jumps by the mean_flow sampler. At r = t it is a flow-matching velocity model, so every other
sampler and the probability-flow likelihood also run on it."""

import dataclasses
from typing import ClassVar, final

import jax
import jax.numpy as jnp

from score_sde.few_step.mean_flow import MeanFlowSettings, MeanFlowVelocity, mean_flow_loss
from score_sde.few_step.samplers import MeanFlowSampler
from score_sde.models import NetApply
from score_sde.objectives.base import (
    GradientOfLoss,
    InDataSpace,
    Objective,
    Parts,
    PlainOptimizer,
    refuse_cudnn_attention,
    refuse_latents,
    register,
)
from score_sde.objectives.denoising import NetworkOnFixedProcess, ode_log_likelihood, path_bits_per_dim
from score_sde.settings import BELOW_ONE, NON_NEGATIVE, POSITIVE, UNIT, Setting


@register
@final
@dataclasses.dataclass(frozen=True)
class MeanFlow(NetworkOnFixedProcess, InDataSpace, GradientOfLoss, PlainOptimizer, Objective):
    """MeanFlow's loss (`mean_flow_loss`) with `settings`; a class-conditional model with folded
    guidance (settings.guided) learns the guided velocity for the examples whose label was kept
    (config.training.label_dropout drops the others to the null label). `t0`: the likelihood's
    decoder time."""

    parts: Parts
    settings: MeanFlowSettings
    sample_steps: int = 1
    t0: float = 1e-5
    name: ClassVar[str] = "mean_flow"
    figures: ClassVar[tuple[str, ...]] = ("loss", "likelihood", "samples")
    likelihood: ClassVar[str] = "the probability-flow ODE of its velocity u(x, t, t), or the variational bound"
    default_parameterization: ClassVar[str | None] = "mean_flow"

    @classmethod
    def from_config(cls, config, parts: Parts) -> "MeanFlow":
        if not isinstance(parts.parameterization, MeanFlowVelocity):
            raise ValueError(
                "config.training.objective='mean_flow' learns an average velocity: set "
                f"config.model.parameterization='mean_flow' (or 'auto'); got {config.model.parameterization!r}"
            )
        if not getattr(parts.network, "interval_embedding", False):
            raise ValueError(
                "config.training.objective='mean_flow' conditions the network on t and t - r: set "
                "config.model.interval_embedding=True"
            )
        refuse_latents(parts, cls.name)
        refuse_cudnn_attention(config, cls.name)
        mean_flow = config.mean_flow
        settings = MeanFlowSettings(
            P_mean=float(mean_flow.P_mean),
            P_std=float(mean_flow.P_std),
            ratio=float(mean_flow.ratio),
            power=float(mean_flow.adaptive_power),
            c=float(mean_flow.adaptive_c),
            guidance_scale=float(mean_flow.guidance_scale),
            guidance_mix=float(mean_flow.guidance_mix),
            guidance_t_min=float(mean_flow.guidance_t_min),
            guidance_t_max=float(mean_flow.guidance_t_max),
        )
        if settings.guided and not (parts.num_classes and float(config.training.label_dropout) > 0):
            raise ValueError(
                "config.mean_flow.guidance_scale / guidance_mix fold classifier-free guidance into training, which "
                "needs a class-conditional model (config.model.num_classes > 0) that also learns the unconditional "
                "velocity (config.training.label_dropout > 0)"
            )
        return cls(parts, settings, int(config.sampling.num_steps) or 1, float(config.training.eps))

    def loss(self, params, rng, x, labels=None, noise=None, *, step=None, train=True):
        net = NetApply(self.parts.network)
        loss_rng, dropout_rng = jax.random.split(rng)
        dropout_rng = dropout_rng if train else None

        def u_fn(z, r, t):
            return net(params, z, t, dropout_rng, labels, t - r)

        if not self.settings.guided:
            return mean_flow_loss(loss_rng, u_fn, x, self.settings)
        null = jnp.full_like(labels, self.parts.num_classes)

        def velocities(z, t):  # the model's own u(z, t, t) with and without the label, in evaluation mode
            zero = jnp.zeros_like(t)
            return net(params, z, t, None, labels, zero), net(params, z, t, None, null, zero)

        return mean_flow_loss(loss_rng, u_fn, x, self.settings, velocities, labels != self.parts.num_classes)

    def sampler(self, sampling):
        return MeanFlowSampler(num_steps=self.sample_steps)

    def check_sampler(self, sampler):
        return None

    def check_task(self, task):
        return None

    def bits_per_dim_fn(self, settings, data_range):
        return path_bits_per_dim(self, settings, data_range, self.t0)

    def log_likelihood_fn(self):
        return ode_log_likelihood(self)

    def describe(self):
        s = self.settings
        guidance = f", guidance folded (scale {s.guidance_scale}, mix {s.guidance_mix})" if s.guided else ""
        return (
            f"{self.name}: (r, t) logit-normal({s.P_mean}, {s.P_std}) with r != t for {s.ratio:.0%}, "
            f"adaptive weight p={s.power}, c={s.c}{guidance}"
        )


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "mean_flow.P_mean": Setting(-0.4, "mean_flow: mean of the logit-normal times t and r (the paper's ImageNet)"),
    "mean_flow.P_std": Setting(1.0, "mean_flow: std of the logit-normal times", POSITIVE),
    "mean_flow.ratio": Setting(0.25, "mean_flow: fraction of pairs with r != t (the rest train u(z, t, t) = v)", UNIT),
    "mean_flow.adaptive_power": Setting(
        1.0, "mean_flow: p of the adaptive weight 1 / (|Delta|^2 + c)^p (0: the plain squared error)", NON_NEGATIVE
    ),
    "mean_flow.adaptive_c": Setting(1e-3, "mean_flow: c of the adaptive weight", POSITIVE),
    "mean_flow.guidance_scale": Setting(
        1.0, "mean_flow: omega of classifier-free guidance folded into training (1: none)", POSITIVE
    ),
    "mean_flow.guidance_mix": Setting(
        0.0, "mean_flow: kappa, the share of the model's conditional velocity in the guided target", BELOW_ONE
    ),
    "mean_flow.guidance_t_min": Setting(
        0.0, "mean_flow: folded guidance applies for t >= this", UNIT, below="mean_flow.guidance_t_max"
    ),
    "mean_flow.guidance_t_max": Setting(1.0, "mean_flow: folded guidance applies for t <= this", UNIT),
}
