"""The abstract `Objective`: what one kind of model is, asked by the runner instead of flags.

An objective owns its parameters (their initialisation and structure), its loss and gradient,
the process its parameters define, its score (the view samplers and the likelihood take), its
own sampler, what its likelihood means and which figures its evaluation reports. Concrete
objectives are final frozen dataclasses registered in `OBJECTIVES` (equinox's abstract/final
pattern: every method below is abstract, no concrete class is subclassed).
"""

import abc
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from score_sde._types import Array
from score_sde.datasets import Data
from score_sde.latent_space import LatentSpace
from score_sde.parameterization import Parameterization
from score_sde.registry import Registry
from score_sde.sampling.samplers import Sampler
from score_sde.sde import SDE

# bpd(params, rng, images (B, H, W, C) as uint8 or floats in [0, 1]) -> ({"bpd": (B,), parts...}, nfe)
BitsPerDimFn = Callable[[object, Array, Array], tuple[dict, Array]]
# log_likelihood(params, rng, x (B, *event)) -> (log p(x) (B,) in nats, nfe), for continuous data
LogLikelihoodFn = Callable[[object, Array, Array], tuple[Array, Array]]

# The figures an evaluation can report (config.eval's switches): the held-out loss, the likelihood,
# drawn samples and their quality, reconstructions of held-out images.
FIGURES = ("loss", "likelihood", "samples", "reconstruction")


@dataclasses.dataclass(frozen=True)
class Parts:
    """What a run builds before its objective: the process and parameterisation of the config, the
    network (a Flax module), the shape of one example, the classes of a class-conditional network
    (0: none) and the model range of 8-bit images (None for continuous data)."""

    process: SDE
    parameterization: Parameterization
    network: nn.Module
    event_shape: tuple[int, ...]
    num_classes: int
    data_range: tuple[float, float] | None
    latent: LatentSpace | None = None  # a latent model's autoencoder and scale (config.data.latents_of)


def init_network(parts: Parts, rngs: dict) -> dict:
    """The network's parameters, initialised on one dummy example (and the null label)."""
    labels: dict[str, Any] = {"class_labels": jnp.full((1,), parts.num_classes)} if parts.num_classes else {}
    return parts.network.init(rngs, jnp.zeros((1, *parts.event_shape)), jnp.ones((1,)), **labels)["params"]


def loss_gradient(objective: "Objective"):
    """value_and_grad(params, rng, x, labels, noise, step) of `objective.loss` in training mode."""

    def loss(params, rng, x, labels, noise, step):
        return objective.loss(params, rng, x, labels, noise, step=step, train=True)

    return jax.value_and_grad(loss)


class Objective(abc.ABC):
    """One kind of model. Concrete objectives are final frozen dataclasses with a `from_config`.

    Class facts: `name` (its `OBJECTIVES` key, config.training.objective), `figures` (what its
    evaluation reports, from `FIGURES`, in order), `likelihood` (what its likelihood is, in words),
    `default_parameterization` (what config.model.parameterization "auto" means for it: None
    for the process's own) and `teaches` (what may learn from a trained model of it: "distill",
    students of its sampler; "reflow", a flow on the couplings of its probability-flow ODE).
    """

    name: ClassVar[str]
    figures: ClassVar[tuple[str, ...]]
    likelihood: ClassVar[str]
    default_parameterization: ClassVar[str | None] = None
    teaches: ClassVar[tuple[str, ...]] = ()

    @classmethod
    @abc.abstractmethod
    def from_config(cls, config, parts: Parts) -> "Objective":
        """The objective of a run's config; a bad combination of settings fails here in one line."""

    @abc.abstractmethod
    def init_params(self, rngs: dict):
        """Fresh parameters, a pytree, from rngs {"params", "dropout"}."""

    @abc.abstractmethod
    def optimizer(self, inner: optax.GradientTransformation) -> optax.GradientTransformation:
        """The optimizer of its parameters, given config.optim's (`inner`)."""

    @abc.abstractmethod
    def loss(self, params, rng: Array, x: Array, labels=None, noise=None, *, step=None, train: bool = True) -> Array:
        """The scalar loss of a batch x (B, *event) in the model's range (labels (B,) of a
        class-conditional network, noise the coupled z of each example, step the training step)."""

    @abc.abstractmethod
    def value_and_grad(self, params, rng: Array, x: Array, labels, noise, step) -> tuple[Array, object]:
        """(loss, gradient with respect to params) of one training batch."""

    @abc.abstractmethod
    def process(self, params) -> SDE:
        """The process these parameters define (a learned schedule's, or the configured one)."""

    @abc.abstractmethod
    def network_params(self, params):
        """The part of `params` that is the network sampled from."""

    @abc.abstractmethod
    def score(self, params, labels=None, flow: bool = False):
        """The score function (a `NetworkScore` pytree) of `params` in evaluation mode; `flow`: for the
        probability-flow ODE (a discrete-trained reference network may take continuous labels there)."""

    @abc.abstractmethod
    def sampler(self, sampling) -> Sampler:
        """The sampler config.sampling.method "auto" means for this objective."""

    @abc.abstractmethod
    def check_sampler(self, sampler: Sampler) -> None:
        """Refuses, in one line, a sampler this objective's model cannot be sampled with."""

    @abc.abstractmethod
    def check_task(self, task: str) -> None:
        """Refuses, in one line, a steering task (config.sampling.task: inpaint, colorize, interpolate;
        "generate" is always allowed) its model cannot run."""

    @abc.abstractmethod
    def data_view(self, data: Data) -> Data:
        """`data` as the model sees it (a latent model's: images encoded to latents)."""

    @abc.abstractmethod
    def to_data(self, x: Array) -> Array:
        """Drawn samples x (B, *event) as data (a latent model's: decoded to images)."""

    @abc.abstractmethod
    def bits_per_dim_fn(self, settings: dict, data_range: tuple[float, float]) -> tuple[BitsPerDimFn, str]:
        """(bpd, method name) of 8-bit images by config.eval's settings (`score_sde.bits_per_dim`);
        refuses in one line if the model defines no density."""

    @abc.abstractmethod
    def log_likelihood_fn(self) -> LogLikelihoodFn:
        """The exact log-likelihood of continuous data (2-D toys); refuses if the model defines no density."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for --mode check: the objective and its settings."""


class InDataSpace:
    """Mixin for objectives whose examples are the data as it is (no encoding, no decoding)."""

    def data_view(self, data: Data) -> Data:
        return data

    def to_data(self, x: Array) -> Array:
        return x


def refuse_steering_latents(task: str) -> None:
    """Refuses every task but "generate" for a model of an autoencoder's latents."""
    if task != "generate":
        raise ValueError(
            f"config.sampling.task={task!r} steers pixels, and a latent model (config.data.latents_of) draws "
            "latents: only 'generate' is available"
        )


def refuse_latents(parts: Parts, name: str) -> None:
    """Refuses, in one line, an autoencoder's latents (config.data.latents_of) for an objective that
    trains on the data itself."""
    if parts.latent is not None:
        raise ValueError(
            f"config.training.objective={name!r} trains on the data; config.data.latents_of trains on an "
            "autoencoder's latents with objective 'latent' (or 'auto')"
        )


def refuse_cudnn_attention(config, name: str) -> None:
    """Refuses, in one line, cuDNN's fused attention for an objective whose loss takes a `jax.jvp` of
    the network: that kernel has no forward-mode derivative ("auto" falls back to XLA's under jvp)."""
    if str(config.model.attention_implementation) == "cudnn":
        raise ValueError(
            f"config.training.objective={name!r} differentiates the network forward (jax.jvp), which cuDNN's fused "
            "attention does not support: set config.model.attention_implementation='auto' or 'xla'"
        )


class FewStepModel:
    """Mixin for objectives whose model is a few-step sampler trained on the data (iCT, sCM): any
    sampler and steering task may run on it, and it defines no density."""

    name: ClassVar[str]

    def check_sampler(self, sampler: Sampler) -> None:
        return None

    def check_task(self, task: str) -> None:
        return None

    def bits_per_dim_fn(self, settings, data_range):
        raise self._no_density()

    def log_likelihood_fn(self):
        raise self._no_density()

    def _no_density(self) -> ValueError:
        return ValueError(
            f"a model of config.training.objective={self.name!r} is a few-step sampler and defines no density: it "
            "has no likelihood or bits/dim"
        )


class GradientOfLoss:
    """Mixin for objectives trained by `jax.value_and_grad` of their loss (`loss_gradient`)."""

    def value_and_grad(self, params, rng, x, labels, noise, step):
        return loss_gradient(self)(params, rng, x, labels, noise, step)


class PlainOptimizer:
    """Mixin for objectives that optimise all of their parameters with config.optim's optimizer."""

    def optimizer(self, inner: optax.GradientTransformation) -> optax.GradientTransformation:
        return inner


OBJECTIVES: Registry[type[Objective]] = Registry("objective")


def teachers(use: str) -> tuple[str, ...]:
    """The names of the objectives that teach `use` ("distill" or "reflow")."""
    return tuple(name for name in OBJECTIVES.names() if use in OBJECTIVES.get(name).teaches)


def register(cls: type[Objective]) -> type[Objective]:
    """Class decorator: registers an objective under its `name` (config.training.objective)."""
    return OBJECTIVES.register(cls.name)(cls)
