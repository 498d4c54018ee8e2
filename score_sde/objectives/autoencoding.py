"""The autoencoder of a latent model (config.model.name="autoencoder"): trained by its negative
ELBO per dimension, evaluated by its reconstructions; it has no score and no sampler of its own."""

import dataclasses
from typing import ClassVar, final

import jax.numpy as jnp

from score_sde.models.autoencoder import autoencoder_loss
from score_sde.objectives.base import GradientOfLoss, InDataSpace, Objective, Parts, PlainOptimizer, register
from score_sde.settings import NON_NEGATIVE, Setting

NO_SCORE = (
    "an autoencoder (config.model.name='autoencoder') has no score: it is sampled and scored through a latent "
    "model trained on its latents (config.data.latents_of)"
)


@register
@final
@dataclasses.dataclass(frozen=True)
class Autoencoding(InDataSpace, GradientOfLoss, PlainOptimizer, Objective):
    """params are the autoencoder's; the loss `autoencoder_loss` with KL weight config.model.ae_kl_weight."""

    parts: Parts
    kl_weight: float
    name: ClassVar[str] = "autoencoder"
    figures: ClassVar[tuple[str, ...]] = ("reconstruction",)
    likelihood: ClassVar[str] = "none (its ELBO is its training loss)"

    @classmethod
    def from_config(cls, config, parts: Parts) -> "Autoencoding":
        if config.model.name != "autoencoder":
            raise ValueError(
                f"config.training.objective='autoencoder' trains config.model.name='autoencoder'; "
                f"got {config.model.name!r}"
            )
        return cls(parts, float(config.model.ae_kl_weight))

    def init_params(self, rngs):
        return self.parts.network.init(rngs, jnp.zeros((1, *self.parts.event_shape)), rngs["params"])["params"]

    def loss(self, params, rng, x, labels=None, noise=None, *, step=None, train=True):
        return autoencoder_loss(self.parts.network, params, rng, x, self.kl_weight, train)[0]

    def process(self, params):
        raise ValueError(NO_SCORE)

    def network_params(self, params):
        return params

    def score(self, params, labels=None, flow=False):
        raise ValueError(NO_SCORE)

    def sampler(self, sampling):
        raise ValueError(NO_SCORE)

    def check_sampler(self, sampler):
        raise ValueError(NO_SCORE)

    def check_task(self, task):
        if task != "generate":
            raise ValueError(f"config.sampling.task={task!r}: {NO_SCORE}")

    def bits_per_dim_fn(self, settings, data_range):
        raise ValueError(NO_SCORE)

    def log_likelihood_fn(self):
        raise ValueError(NO_SCORE)

    def describe(self):
        return f"{self.name}: negative ELBO per dimension, KL weight {self.kl_weight:g}"


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "model.ae_kl_weight": Setting(
        1e-06, ("autoencoder: weight of KL(q(z | x) || N(0, I)) against the reconstruction NLL"), NON_NEGATIVE
    ),
}
