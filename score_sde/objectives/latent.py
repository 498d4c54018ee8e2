"""A latent score model (latent diffusion, LSGM): the denoising objective on the scaled latents of
a trained autoencoder (config.data.latents_of), its samples decoded to images and its likelihood
LSGM's bound on the images."""

import dataclasses
from typing import ClassVar, final

from score_sde.bits_per_dim import lsgm_bits_per_dim
from score_sde.latent_space import LatentSpace
from score_sde.objectives.base import Objective, Parts, refuse_steering_latents, register
from score_sde.objectives.denoising import Denoising
from score_sde.settings import NON_NEGATIVE, Setting, number


@register
@final
@dataclasses.dataclass(frozen=True)
class LatentDenoising(Objective):
    """`denoising` of latents u = c z in `space`; params are the score network's."""

    denoising: Denoising
    space: LatentSpace
    name: ClassVar[str] = "latent"
    figures: ClassVar[tuple[str, ...]] = ("loss", "likelihood", "samples")
    likelihood: ClassVar[str] = "LSGM's bound on the images (the latents' NLL by the probability-flow ODE)"
    teaches: ClassVar[tuple[str, ...]] = ("distill",)

    @classmethod
    def from_config(cls, config, parts: Parts) -> "LatentDenoising":
        if parts.latent is None:
            raise ValueError(
                "config.training.objective='latent' trains on an autoencoder's latents: set config.data.latents_of "
                "to the workdir of a trained autoencoder"
            )
        return cls(Denoising.from_config(config, parts), parts.latent)

    def init_params(self, rngs):
        return self.denoising.init_params(rngs)

    def optimizer(self, inner):
        return self.denoising.optimizer(inner)

    def loss(self, params, rng, x, labels=None, noise=None, *, step=None, train=True):
        return self.denoising.loss(params, rng, x, labels, noise, step=step, train=train)

    def value_and_grad(self, params, rng, x, labels, noise, step):
        return self.denoising.value_and_grad(params, rng, x, labels, noise, step)

    def process(self, params):
        return self.denoising.process(params)

    def network_params(self, params):
        return params

    def score(self, params, labels=None, flow=False):
        return self.denoising.score(params, labels, flow)

    def sampler(self, sampling):
        return self.denoising.sampler(sampling)

    def check_sampler(self, sampler):
        self.denoising.check_sampler(sampler)

    def check_task(self, task):
        refuse_steering_latents(task)

    def data_view(self, data):
        return self.space.encoded(data)

    def to_data(self, x):
        return self.space.decode(x)

    def bits_per_dim_fn(self, settings, data_range):
        score_of = lambda params, flow: self.score(params, flow=flow)
        return lsgm_bits_per_dim(self.process, score_of, self.space, settings, data_range), "lsgm_bound"

    def log_likelihood_fn(self):
        raise ValueError("a latent model's likelihood is LSGM's bound on 8-bit images (config.eval.enable_bpd)")

    def describe(self):
        space = self.space
        return f"{self.name}: {self.denoising.describe()} on latents {list(space.latent_shape)} of {space.workdir}"


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "data.latents_of": Setting(
        "", ('a latent score model: the workdir of its autoencoder ("": model the data itself)')
    ),
    "data.latents_ckpt": Setting(-1, "that autoencoder's snapshot number (-1: its newest checkpoint)", number(-1)),
    "data.latent_scale": Setting(
        0.0, ("latents are multiplied by this (0: 1 / std of the encoded training data, stored)"), NON_NEGATIVE
    ),
}
