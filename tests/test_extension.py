"""A new kind of model and a new sampler added through the registries alone: both are defined
here, registered with `score_sde.objectives.register` and `score_sde.sampling.samplers.register`,
chosen by config.training.objective and config.sampling.method, and trained, checked, evaluated
and sampled by the runner without any project file knowing them."""

import dataclasses
from typing import ClassVar, final

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from score_sde.losses import LossSettings, denoising_loss
from score_sde.models import NetApply
from score_sde.objectives import (
    OBJECTIVES,
    GradientOfLoss,
    InDataSpace,
    Objective,
    Parts,
    PlainOptimizer,
    init_network,
    register,
)
from score_sde.objectives.denoising import ode_log_likelihood, path_bits_per_dim
from score_sde.parameterization import NetworkScore
from score_sde.runner import check, sample
from score_sde.runner.restore import load_params
from score_sde.runner.setup import build
from score_sde.runner.train_loop import train
from score_sde.sampling import SAMPLERS, PredictorCorrector, Sampler
from score_sde.sampling.samplers import register as register_sampler
from tests.runner_helpers import tiny_toy_config


@dataclasses.dataclass(frozen=True)
class GainedApply:
    """net_apply of {"network", "gain"}: the network's output times the gain (hashable by the module)."""

    network: object

    def __call__(self, params, x, c_noise, dropout_rng=None, labels=None):
        return params["gain"] * NetApply(self.network)(params["network"], x, c_noise, dropout_rng, labels)


@register
@final
@dataclasses.dataclass(frozen=True)
class GainedDenoising(InDataSpace, GradientOfLoss, PlainOptimizer, Objective):
    """Denoising with a weighting of its own (min-SNR with gamma 2) and a parameter of its own: a
    learned gain on the network's output, params {"network", "gain"}."""

    parts: Parts
    name: ClassVar[str] = "gained_denoising"
    figures: ClassVar[tuple[str, ...]] = ("loss", "likelihood", "samples")
    likelihood: ClassVar[str] = "the probability-flow ODE"

    @classmethod
    def from_config(cls, config, parts):
        return cls(parts)

    def init_params(self, rngs):
        return {"network": init_network(self.parts, rngs), "gain": jnp.asarray(0.5)}

    def loss(self, params, rng, x, labels=None, noise=None, *, step=None, train=True):
        loss_rng, dropout_rng = jax.random.split(rng)
        apply, parts = GainedApply(self.parts.network), self.parts
        net_fn = lambda x_in, c_noise: apply(params, x_in, c_noise, dropout_rng if train else None, labels)
        settings = LossSettings(weighting="min_snr", min_snr_gamma=2.0, eps=1e-3)
        return denoising_loss(loss_rng, parts.process, parts.parameterization, net_fn, x, settings, noise)

    def process(self, params):
        return self.parts.process

    def network_params(self, params):
        return params

    def score(self, params, labels=None, flow=False):
        parts = self.parts
        return NetworkScore(GainedApply(parts.network), params, parts.process, parts.parameterization, labels)

    def sampler(self, sampling):
        return PredictorCorrector.from_config(sampling)

    def check_sampler(self, sampler):
        return None

    def check_task(self, task):
        return None

    def bits_per_dim_fn(self, settings, data_range):
        return path_bits_per_dim(self, settings, data_range, 1e-3)

    def log_likelihood_fn(self):
        return ode_log_likelihood(self)

    def describe(self):
        return f"{self.name}: denoising with a learned output gain"


@register_sampler
@final
@dataclasses.dataclass(frozen=True)
class EulerFlow(Sampler):
    """Euler steps of the probability-flow ODE dx = [f x - g^2 score / 2] dt on a uniform grid from T to eps."""

    name: ClassVar[str] = "euler_flow"
    num_steps: int = 50
    eps: float = 1e-3

    @classmethod
    def from_config(cls, sampling):
        return cls(int(sampling.num_steps) or cls.num_steps, float(sampling.eps))

    def __call__(self, rng, process, score_fn, shape):
        times = jnp.linspace(process.T, self.eps, self.num_steps + 1)

        def step(x, interval):
            t, t_next = interval
            batch_t = jnp.full((shape[0],), t)
            drift = process.drift_coefficient(t) * x - 0.5 * process.diffusion_squared(t) * score_fn(x, batch_t)
            return x + (t_next - t) * drift, None

        x, _ = jax.lax.scan(step, process.prior_sampling(rng, shape), (times[:-1], times[1:]))
        return x, jnp.asarray(self.num_steps, jnp.int32)

    @property
    def marginal_score_use(self):
        return ""


def test_a_new_objective_and_sampler_train_and_sample_through_the_runner(tmp_path):
    assert "gained_denoising" in OBJECTIVES and "euler_flow" in SAMPLERS
    config = tiny_toy_config(n_iters=40)
    config.training.objective, config.sampling.method, config.sampling.num_steps = "gained_denoising", "euler_flow", 30
    config.model.parameterization = "eps"
    config.training.final_eval = True
    config.eval.num_samples = config.eval.batch_size = 100
    summary = check(config)
    assert summary["objective"] == "gained_denoising: denoising with a learned output gain"
    assert summary["sampler"].startswith("euler_flow")
    setup = build(config)
    assert set(setup.abstract_params()) == {"network", "gain"}
    record = train(config, tmp_path, progress=False)
    assert record["step"] == 40 and record["sample_nfe"] == 30 and np.isfinite(record["mmd2_samples_vs_data"])
    assert np.isfinite(record["eval_loss"]) and np.isfinite(record["nll_nats"])
    params = load_params(setup, tmp_path, -1)[0]
    assert float(params["gain"]) != pytest.approx(0.5, abs=1e-6)  # its own parameter was trained
    drawn = sample(config, tmp_path, progress=False)
    assert drawn["sampler"] == "euler_flow" and drawn["sample_nfe"] == 30


def test_an_unknown_objective_or_sampler_names_the_registered_ones():
    config = tiny_toy_config()
    config.training.objective = "gained_denoisin"
    with pytest.raises(
        ValueError, match=r"config.training.objective='gained_denoisin': choose from .*'gained_denoising'"
    ):
        build(config, with_data=False)
    config.training.objective, config.sampling.method = "auto", "euler"
    with pytest.raises(ValueError, match=r"config.sampling.method='euler': choose from .*'euler_flow'"):
        build(config, with_data=False)
