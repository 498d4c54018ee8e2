"""The latent space of a latent score model (latent diffusion, LSGM): a trained autoencoder and
the scale factor c of its latents. The score model is trained on u = c z, z ~ q(z | x) drawn
from the encoder's posterior inside the train step; its samples are decoded to images.
"""

import dataclasses
from typing import Any

import jax

from score_sde._types import Array
from score_sde.datasets import Data
from score_sde.models.autoencoder import Autoencoder


@dataclasses.dataclass(frozen=True)
class LatentSpace:
    """A trained autoencoder (module, EMA parameters) and the scale factor of its latents.

    image_shape (H, W, C) of the data, latent_shape (h, w, c) of the score model's examples;
    workdir and step name the autoencoder's run and checkpoint (-1: shapes only, no weights).
    """

    autoencoder: Autoencoder
    params: Any
    scale: float
    image_shape: tuple[int, ...]
    latent_shape: tuple[int, ...]
    workdir: str
    step: int

    def _apply(self, method: str, *args):
        return self.autoencoder.apply({"params": self.params}, *args, method=method)

    def posterior(self, x: Array):
        """q(z | x) of model-range images x (B, H, W, C): a `DiagonalGaussian` over unscaled latents."""
        return self._apply("encode", x)

    def encode(self, rng: Array, x: Array) -> Array:
        """Scaled latents u = c z, z ~ q(z | x), of model-range images x (B, H, W, C)."""
        return self.scale * self.posterior(x).sample(rng)

    def decode(self, u: Array) -> Array:
        """Model-range images (B, H, W, C): the decoder's mean at z = u / c."""
        return self._apply("decode", u / self.scale)

    def decoder_nll(self, x: Array, z: Array) -> Array:
        """-log p(x | z) (B,) in nats of model-range images x under the decoder, at unscaled latents z."""
        return self._apply("decoder_nll", x, z)

    def encoded(self, data: Data) -> Data:
        """`data` as the score model sees it: each training batch's images encoded to scaled latents on device."""

        def model_input(rng, raw, train):
            image_rng, latent_rng = jax.random.split(rng)
            return self.encode(latent_rng, data.model_input(image_rng, raw, train))

        return dataclasses.replace(data, event_shape=self.latent_shape, model_input=model_input)
