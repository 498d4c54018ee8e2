"""The denoising objective: a network trained by the weighted denoising loss on a fixed process
(every recipe of the score-SDE paper, EDM, flow matching and reflow), or by the reference's
discrete DDPM / SMLD losses (config.training.continuous=False)."""

import dataclasses
from typing import ClassVar, cast, final

import jax.numpy as jnp

from score_sde.bits_per_dim import bound_bits_per_dim, ode_bits_per_dim
from score_sde.likelihood import log_likelihood
from score_sde.losses import TIME_SAMPLINGS, WEIGHTINGS, LossSettings, get_loss_fn
from score_sde.models import NetApply
from score_sde.objectives.base import (
    GradientOfLoss,
    InDataSpace,
    Objective,
    Parts,
    PlainOptimizer,
    init_network,
    refuse_latents,
    register,
)
from score_sde.parameterization import NetworkScore, Parameterization, ReferenceNoise, ReferenceScore
from score_sde.sampling import PredictorCorrector, ProbabilityFlowODE, Sampler
from score_sde.sde import LearnedVPPath
from score_sde.settings import POSITIVE, Setting, choice, choice_of

# What a reflowed flow can be sampled with: samplers that integrate its probability flow alone.
FLOW_SAMPLERS_HELP = "'ode' (the default with 'auto'), 'dpm_solver', 'ddim' with eta=0 or 'heun' with S_churn=0"


def loss_settings(config, parts: Parts) -> LossSettings:
    """config.training's loss: "auto" weighting is the parameterisation's default (eps-MSE, i.e.
    the reference's DSM, for the reference's; the reference's likelihood weighting when
    training.likelihood_weighting), "auto" time sampling log-normal for EDM's preconditioning
    and uniform otherwise."""
    training, parameterization = config.training, parts.parameterization
    weighting = str(training.loss_weighting)
    if bool(training.likelihood_weighting):
        if weighting not in ("auto", "likelihood"):
            raise ValueError(
                f"config.training.likelihood_weighting=True contradicts config.training.loss_weighting="
                f"{weighting!r}: set one of them"
            )
        weighting = "likelihood"
    elif weighting == "auto":
        weighting = parameterization.default_weighting
    time_sampling = str(training.time_sampling)
    if time_sampling == "auto":
        time_sampling = "log_normal" if parameterization.name in ("edm", "trigflow") else "uniform"
    return LossSettings(
        weighting=weighting,
        time_sampling=time_sampling,
        reduce_mean=bool(training.reduce_mean),
        eps=float(training.eps),
        P_mean=float(training.P_mean),
        P_std=float(training.P_std),
        min_snr_gamma=float(training.min_snr_gamma),
        sigma_data=float(config.model.sigma_data),
    )


def discrete_reference(parameterization: Parameterization) -> bool:
    """Whether a reference parameterisation is trained in discrete time (config.training.continuous=False)."""
    return isinstance(parameterization, (ReferenceNoise, ReferenceScore)) and not parameterization.continuous


def network_score(parts: Parts, params, labels, flow: bool, ode_score: str, process=None) -> NetworkScore:
    """The score of network `params` through the parts' parameterisation (on `process`, default the
    parts' own); for the probability flow (`flow`) a discrete-trained reference network takes
    continuous labels when `ode_score` is "continuous" (config.sampling.ode_score). A class-conditional
    network without `labels` scores unconditionally (the null label, `num_classes`)."""
    if parts.num_classes and labels is None:
        labels = jnp.asarray(parts.num_classes, jnp.int32)
    parameterization = parts.parameterization
    if flow and ode_score == "continuous" and discrete_reference(parameterization):
        parameterization = dataclasses.replace(cast(ReferenceNoise | ReferenceScore, parameterization), continuous=True)
    return NetworkScore(NetApply(parts.network), params, process or parts.process, parameterization, labels)


def path_bits_per_dim(objective: Objective, settings: dict, data_range, t0: float):
    """(bpd, method) of a model on a Gaussian path: config.eval.likelihood "ode" or "elbo"."""
    method = settings["likelihood"]
    bpd = bound_bits_per_dim if method == "elbo" else ode_bits_per_dim
    score_of = lambda params, flow: objective.score(params, flow=flow)
    return bpd(objective.process, score_of, settings, data_range, t0), method


def ode_log_likelihood(objective: Objective):
    """log p(x) (B,) in nats and nfe by the probability-flow ODE with the exact trace (continuous data)."""

    def logp(params, rng, x):
        logp, _, nfe = log_likelihood(
            rng, objective.process(params), objective.score(params, flow=True), x, trace="exact"
        )
        return logp, nfe

    return logp


class NetworkOnFixedProcess:
    """Mixin for objectives whose parameters are one network (its `init_network`) on the configured
    process, scored through the parts' parameterisation with continuous labels."""

    parts: Parts

    def init_params(self, rngs):
        return init_network(self.parts, rngs)

    def process(self, params):
        return self.parts.process

    def network_params(self, params):
        return params

    def score(self, params, labels=None, flow=False):
        return network_score(self.parts, params, labels, flow, "continuous")


@register
@final
@dataclasses.dataclass(frozen=True)
class Denoising(InDataSpace, GradientOfLoss, PlainOptimizer, Objective):
    """E_t w(t) |D(x_t, t) - x_0|^2 on a fixed process (`get_loss_fn`); params are the network's.

    `coupled`: trained on stored (noise, data) couplings (reflow), whose velocity is not the
    independent path's score, so it is sampled by the probability flow alone. `ode_score`:
    config.sampling.ode_score. `t0`: the smallest training time (the bound's decoder time).
    """

    parts: Parts
    settings: LossSettings
    coupled: bool = False
    ode_score: str = "continuous"
    t0: float = 1e-5
    name: ClassVar[str] = "denoising"
    figures: ClassVar[tuple[str, ...]] = ("loss", "likelihood", "samples")
    likelihood: ClassVar[str] = "the probability-flow ODE (config.eval.likelihood='ode') or the variational bound"
    teaches: ClassVar[tuple[str, ...]] = ("distill", "reflow")

    @classmethod
    def from_config(cls, config, parts: Parts) -> "Denoising":
        if isinstance(parts.process, LearnedVPPath):
            raise ValueError(
                "config.training.objective='denoising' trains on a fixed process; config.training.sde='learned_vp' "
                "learns its schedule with objective 'learned_schedule' (or 'auto')"
            )
        if str(config.training.objective) == "denoising":
            refuse_latents(parts, cls.name)
        return cls(
            parts,
            loss_settings(config, parts),
            bool(config.reflow.teacher),
            str(config.sampling.ode_score),
            float(config.training.eps),
        )

    def init_params(self, rngs):
        return init_network(self.parts, rngs)

    def loss(self, params, rng, x, labels=None, noise=None, *, step=None, train=True):
        parts = self.parts
        loss_fn = get_loss_fn(
            parts.process, parts.parameterization, NetApply(parts.network), self.settings, train=train
        )
        return loss_fn(params, rng, x, labels, noise)

    def process(self, params):
        return self.parts.process

    def network_params(self, params):
        return params

    def score(self, params, labels=None, flow=False):
        return network_score(self.parts, params, labels, flow, self.ode_score)

    def sampler(self, sampling) -> Sampler:
        return ProbabilityFlowODE.from_config(sampling) if self.coupled else PredictorCorrector.from_config(sampling)

    def check_task(self, task):
        if self.coupled and task in ("inpaint", "colorize"):
            raise ValueError(
                f"config.sampling.task={task!r} runs the predictor-corrector sampler on the marginal score, which "
                "a reflowed flow (config.reflow.teacher) does not learn; 'generate' and 'interpolate' integrate "
                "its probability flow"
            )

    def check_sampler(self, sampler):
        use = sampler.marginal_score_use
        if self.coupled and use:
            raise ValueError(
                f"config.sampling.method={sampler.name!r}: {use} needs the score of the independent Gaussian path, "
                "which a reflowed flow (config.reflow.teacher) does not learn (its velocity belongs to the "
                f"rectified coupling); sample it with {FLOW_SAMPLERS_HELP}"
            )

    def bits_per_dim_fn(self, settings, data_range):
        return path_bits_per_dim(self, settings, data_range, self.t0)

    def log_likelihood_fn(self):
        return ode_log_likelihood(self)

    def describe(self):
        if discrete_reference(self.parts.parameterization):
            loss = "the reference's discrete loss"
        else:
            loss = repr(self.settings)
        return f"{self.name}: {loss}" + (", on couplings (reflow)" if self.coupled else "")


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "training.continuous": Setting(
        True, ("continuous-time training (False: the reference's discrete DDPM / SMLD losses)")
    ),
    "training.reduce_mean": Setting(
        False, ("per-example loss: mean over dimensions (False: half the sum, as the reference)")
    ),
    "training.likelihood_weighting": Setting(
        False, ('the reference\'s likelihood weighting lambda = g^2 (same as loss_weighting="likelihood")')
    ),
    "training.loss_weighting": Setting(
        "auto",
        ("eps, score, likelihood, x0, v, velocity, edm, min_snr; auto: the parameterisation's own"),
        choice_of(WEIGHTINGS, "auto"),
    ),
    "training.time_sampling": Setting(
        "auto",
        (
            "uniform, log_normal (EDM), log_snr (importance on lambda); auto: log_normal for edm and "
            "trigflow, else uniform"
        ),
        choice("auto", *TIME_SAMPLINGS),
    ),
    "training.eps": Setting(
        1e-05, ("smallest training time (uniform time sampling), as the reference's losses"), POSITIVE
    ),
    "training.P_mean": Setting(-1.2, "log_normal time sampling: mean of ln sigma~ (EDM)"),
    "training.P_std": Setting(1.2, "log_normal time sampling: std of ln sigma~ (EDM)", POSITIVE),
    "training.min_snr_gamma": Setting(5.0, "min_snr weighting: the SNR clip gamma", POSITIVE),
}
