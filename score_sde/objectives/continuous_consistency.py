"""The continuous-time consistency objective (sCM; Lu & Song, ICLR 2025) on TrigFlow's path: sCT
trains from scratch (config.training.objective="scm"); sCD distils a teacher of any process
(--mode distill with config.distill.method="scm"). Sampled in one or a few steps by the consistency
sampler: TrigFlow's denoiser is the consistency function."""

import dataclasses
from typing import ClassVar, final

import jax
import jax.numpy as jnp
import optax

from score_sde.conversions import denoiser_across
from score_sde.distillation import Consistency
from score_sde.distillation.students import network_denoiser
from score_sde.few_step.continuous_consistency import (
    ContinuousConsistencySettings,
    TimeWeight,
    continuous_consistency_loss,
    trigflow_velocity,
)
from score_sde.models import NetApply
from score_sde.objectives.base import (
    FewStepModel,
    GradientOfLoss,
    InDataSpace,
    Objective,
    Parts,
    init_network,
    refuse_cudnn_attention,
    refuse_latents,
    register,
)
from score_sde.objectives.students import StudentNetwork
from score_sde.parameterization import Parameterization, TrigFlowParameterization
from score_sde.sde import SDE
from score_sde.settings import NON_NEGATIVE, POSITIVE, Setting

TRAINED = ("student", "weight")  # the parameters sCM optimises; sCD's "teacher" stays fixed


def teacher_frozen(inner: optax.GradientTransformation) -> optax.GradientTransformation:
    """`inner` on params["student"] and params["weight"]; zero updates for anything else (the teacher)."""

    def trained(tree):
        return {name: tree[name] for name in TRAINED}

    def init(params):
        return inner.init(trained(params))

    def update(grads, state, params):
        updates, state = inner.update(trained(grads), state, trained(params))
        frozen = {name: jax.tree.map(jnp.zeros_like, value) for name, value in params.items() if name not in TRAINED}
        return {**updates, **frozen}, state

    return optax.GradientTransformation(init, update)


@register
@final
@dataclasses.dataclass(frozen=True)
class ContinuousConsistency(StudentNetwork, FewStepModel, InDataSpace, GradientOfLoss, Objective):
    """sCM's loss (`continuous_consistency_loss`); params {"student": F, "weight": w(t)} and, in sCD
    (`distilled`), "teacher": the teacher's network on `teacher_process` with
    `teacher_parameterization` (set by --mode distill through `with_teacher`). Samples: the
    consistency sampler at `sample_steps` times from T (or T and `sample_times`)."""

    parts: Parts
    settings: ContinuousConsistencySettings
    distilled: bool = False
    sample_steps: int = 1
    sample_times: tuple[float, ...] = ()
    teacher_process: SDE | None = None
    teacher_parameterization: Parameterization | None = None
    name: ClassVar[str] = "scm"
    figures: ClassVar[tuple[str, ...]] = ("loss", "samples")
    likelihood: ClassVar[str] = "none (a few-step sampler)"
    default_parameterization: ClassVar[str | None] = "trigflow"

    @classmethod
    def from_config(cls, config, parts: Parts) -> "ContinuousConsistency":
        if not isinstance(parts.parameterization, TrigFlowParameterization):
            raise ValueError(
                "config.training.objective='scm' trains TrigFlow's consistency function: set "
                "config.training.sde='trigflow' and config.model.parameterization='trigflow' (or 'auto'); got "
                f"{config.training.sde!r} and {config.model.parameterization!r}"
            )
        refuse_latents(parts, cls.name)
        if str(config.model.embedding_type) == "fourier":
            raise ValueError(
                "config.model.embedding_type='fourier': sCM feeds the time t itself (c_noise = t), for which the "
                "paper finds Fourier embeddings unstable: set config.model.embedding_type='positional'"
            )
        refuse_cudnn_attention(config, cls.name)
        scm = config.scm
        settings = ContinuousConsistencySettings(
            P_mean=float(scm.P_mean),
            P_std=float(scm.P_std),
            tangent_c=float(scm.tangent_c),
            warmup_steps=int(scm.warmup_steps),
            adaptive_weighting=bool(scm.adaptive_weighting),
        )
        return cls(
            parts,
            settings,
            distilled=str(config.distill.method) == cls.name,
            sample_steps=int(config.sampling.num_steps) or 1,
            sample_times=tuple(float(t) for t in config.sampling.consistency_times),
        )

    def with_teacher(self, process: SDE, parameterization: Parameterization) -> "ContinuousConsistency":
        """This sCD student learning from a teacher on `process` with `parameterization`."""
        return dataclasses.replace(self, teacher_process=process, teacher_parameterization=parameterization)

    def init_params(self, rngs):
        network = init_network(self.parts, rngs)
        params = {"student": network, "weight": TimeWeight().init(rngs["params"], jnp.ones((1,)))["params"]}
        return {**params, "teacher": jax.tree.map(jnp.copy, network)} if self.distilled else params

    def optimizer(self, inner):
        return teacher_frozen(inner)

    def loss(self, params, rng, x, labels=None, noise=None, *, step=None, train=True):
        parts, net = self.parts, NetApply(self.parts.network)
        sigma_data = parts.parameterization.sigma_data  # type: ignore[attr-defined]
        loss_rng, dropout_rng = jax.random.split(rng)
        dropout_rng = dropout_rng if train else None

        def net_fn(network, x_in, t):
            return net(network, x_in, t, dropout_rng, labels)

        weight_fn = None
        if self.settings.adaptive_weighting:
            weight_fn = lambda t: TimeWeight().apply({"params": params["weight"]}, t)
        teacher_velocity = None
        if self.distilled:
            if self.teacher_process is None or self.teacher_parameterization is None:
                raise ValueError(
                    "sCD's loss needs its teacher, which only --mode distill loads: set config.eval.enable_loss=False"
                )
            teacher = network_denoiser(
                net, params["teacher"], self.teacher_process, self.teacher_parameterization, None, labels
            )
            on_path = denoiser_across(parts.process, self.teacher_process, teacher)
            teacher_velocity = lambda x_t, t: trigflow_velocity(on_path, x_t, t, sigma_data)
        return continuous_consistency_loss(
            loss_rng, net_fn, params["student"], x, sigma_data, self.settings, step, weight_fn, teacher_velocity
        )

    def sampler(self, sampling):
        eps = self.parts.process.eps
        return Consistency(num_steps=self.sample_steps, eps=eps, rho=float(sampling.rho), times=self.sample_times)

    def describe(self):
        s = self.settings
        kind = "sCD (distilled)" if self.distilled else "sCT (from scratch)"
        weighting = "adaptive weighting" if s.adaptive_weighting else "no weighting"
        return (
            f"{self.name}: {kind}, log-normal({s.P_mean}, {s.P_std}) times, tangent normalisation c={s.tangent_c}, "
            f"warm-up {s.warmup_steps} steps, {weighting}"
        )


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "scm.P_mean": Setting(-1.0, "scm: mean of ln(sigma_d tan t) of the training times"),
    "scm.P_std": Setting(1.4, "scm: std of ln(sigma_d tan t)", POSITIVE),
    "scm.tangent_c": Setting(0.1, "scm: the tangent normalisation's c, g / (|g| + c) (0: none)", NON_NEGATIVE),
    "scm.warmup_steps": Setting(
        10_000, "scm: steps over which the tangent's second term rises from 0 to 1 (0: none)", NON_NEGATIVE
    ),
    "scm.adaptive_weighting": Setting(True, "scm: weight the loss by a learned e^-w(t), plus w(t)"),
}
