"""Everything a run builds from its config, checked once at start-up before any heavy work."""

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from score_sde.config import RunSettings
from score_sde.datasets import Data, get_data, is_toy
from score_sde.datasets.images import to_uint8
from score_sde.datasets.pipeline import check_batch_split
from score_sde.guidance import GuidanceInterval, autoguided_score, classifier_free_guided_score
from score_sde.latent_space import LatentSpace
from score_sde.models import get_model
from score_sde.objectives import Objective, Parts, get_sampler, objective_class
from score_sde.parallel import DeviceLayout
from score_sde.parameterization import ConditionalNetworkScore, NetworkScore, get_parameterization
from score_sde.runner.config_check import check_config
from score_sde.runner.restore import WeakModel, load_latent_space, load_weak_model
from score_sde.sampling.samplers import Sampler
from score_sde.sde import get_sde
from score_sde.train_step import TrainState, create_train_state, make_optimizer


def check_dispatch_boundaries(training) -> None:
    """Checkpoint frequencies must land on dispatch boundaries."""
    for field in ("snapshot_freq", "snapshot_freq_for_preemption"):
        if training[field] % training.n_jitted_steps:
            raise ValueError(
                f"config.training.{field}={training[field]} must be a multiple of config.training.n_jitted_steps="
                f"{training.n_jitted_steps} (checkpoints are taken between dispatches)"
            )


def check_class_conditioning(config, data: Data) -> None:
    """A class-conditional network needs labelled data with the same number of classes."""
    num_classes = int(config.model.num_classes)
    if num_classes and num_classes != data.num_classes:
        raise ValueError(
            f"config.model.num_classes={num_classes}, but dataset {data.name!r} has "
            f"{data.num_classes} classes (0: unlabelled)"
        )


def event_shape(config) -> tuple[int, ...]:
    """The shape of one example as the model sees it, from the config alone."""
    if is_toy(config):
        return (int(config.data.dim),)
    size = int(config.data.image_size)
    return (size, size, int(config.data.num_channels))


@dataclasses.dataclass(frozen=True)
class Setup:
    """What a run builds from its config: the run's own settings (`RunSettings`: seed, training
    loop, evaluation, snapshots, task), its objective (what kind of model it trains: its
    parameters, loss, process and score), sampler and optimizer, and (where the mode needs it)
    data; with the device layout it runs on (`DeviceLayout`: mesh and shardings)."""

    config: ml_collections.ConfigDict
    run: RunSettings
    objective: Objective
    parts: Parts
    optimizer: object
    sampler: Sampler | None  # None for an objective that draws no samples (an autoencoder)
    layout: DeviceLayout
    data: Data | None = None
    weak: WeakModel | None = None  # autoguidance's weaker model (config.sampling.autoguidance)
    # jitted programs built once per run: evaluation at every snapshot reuses them
    programs: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def program(self, key, build: Callable[[], Callable]) -> Callable:
        """The function `build()` made once for this run under `key`, reused afterwards."""
        if key not in self.programs:
            self.programs[key] = build()
        return self.programs[key]

    @property
    def training_data(self) -> Data:
        """The data of a setup built with it (`build(..., with_data=True)`)."""
        if self.data is None:
            raise ValueError("this run was built without its data (build(..., with_data=False))")
        return self.data

    @property
    def sampler_name(self) -> str:
        """The sampler's `SAMPLERS` name, "none" for an objective that draws no samples."""
        return "none" if self.sampler is None else self.sampler.name

    @property
    def sde(self):
        """The configured process (config.training.sde); `process(params)` is the one of given parameters."""
        return self.parts.process

    @property
    def parameterization(self):
        return self.parts.parameterization

    @property
    def model(self):
        """The network (a Flax module)."""
        return self.parts.network

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The shape of one example as the model sees it (a latent model's: a latent)."""
        return self.parts.event_shape

    @property
    def latent(self) -> LatentSpace | None:
        """A latent model's autoencoder and scale (config.data.latents_of), else None."""
        return self.parts.latent

    @property
    def image(self) -> bool:
        return len(self.event_shape) == 3

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The shape of one drawn sample as data (a latent model's: the decoded image)."""
        return tuple(jax.eval_shape(self.objective.to_data, jnp.zeros((1, *self.event_shape))).shape[1:])

    @property
    def centered(self) -> bool:
        return bool(self.config.data.centered)

    def to_uint8(self, x) -> np.ndarray:
        """Model-range images (B, H, W, C) as 8-bit pixels, by config.sampling.to_uint8's rule."""
        return to_uint8(x, centered=self.centered, rule=self.config.sampling.to_uint8)

    @property
    def num_classes(self) -> int:
        """Classes of a class-conditional network (label `num_classes` is "no label"); 0 if none."""
        return self.parts.num_classes

    def process(self, params):
        """The process of these parameters (`Objective.process`)."""
        return self.objective.process(params)

    def network_params(self, params):
        """The network sampled from, within `params` (`Objective.network_params`)."""
        return self.objective.network_params(params)

    @property
    def data_range(self) -> tuple[float, float]:
        return (-1.0, 1.0) if self.centered else (0.0, 1.0)

    def sample(self, rng, params, score_fn, shape):
        """The run's sampler on the process of `params` -> (x, nfe), x as data (`Objective.to_data`:
        a latent model's samples of latent `shape` are decoded to images)."""
        x, nfe = self.sampler(rng, self.process(params), score_fn, shape)
        return self.objective.to_data(x), nfe

    def score_fn(self, params, labels=None, flow: bool = False) -> NetworkScore:
        """The score of `params` (evaluation mode), a pytree; a class-conditional network scores for
        class `labels` (B,), or unconditionally (the null label) without them. `flow`: for the
        probability-flow ODE (`Objective.score`)."""
        return self.objective.score(params, labels, flow)

    def sampling_labels(self, indices):
        """The class labels of samples `indices` (B,) of a class-conditional network:
        sampling.class_label, or for -1 classes 0, 1, ... in turn (index mod num_classes); None if unconditional."""
        if not self.num_classes:
            return None
        label = int(self.config.sampling.class_label)
        return indices % self.num_classes if label < 0 else jnp.full(indices.shape, label)

    def sampling_score_fn(self, params, batch_size: int):
        """The score to sample a batch of `batch_size` with: unconditional, or for a class-conditional
        network the classifier-free guided score (weight sampling.guidance_scale) of the labels of
        `sampling_labels(arange(batch_size))`. A sampler that integrates the probability flow
        alone takes the `flow` score."""
        return self.sampling_score_for(params, self.sampling_labels(jnp.arange(batch_size)))

    def sampling_score_for(self, params, labels):
        """`sampling_score_fn` for given labels (B,) (None: unconditional network): with a weaker
        model (config.sampling.autoguidance) the autoguided score of the labels, else for labels the
        classifier-free guided one; either on the guidance interval of config.sampling."""
        flow = self.sampler.continuous_ode
        sampling = self.config.sampling
        interval = None
        if sampling.guidance_sigma_min > 0 or sampling.guidance_sigma_max < math.inf:
            interval = GuidanceInterval(
                self.process(params), float(sampling.guidance_sigma_min), float(sampling.guidance_sigma_max)
            )
        if self.weak is not None:
            weak_score = self.weak.objective.score(self.weak.params, labels, flow)
            return autoguided_score(
                self.score_fn(params, labels, flow), weak_score, float(sampling.autoguidance_scale), interval
            )
        if labels is None:
            return self.score_fn(params, flow=flow)
        return classifier_free_guided_score(
            ConditionalNetworkScore(self.score_fn(params, flow=flow)),
            labels,
            self.num_classes,
            float(sampling.guidance_scale),
            interval,
        )

    def init_state(self, params=None) -> TrainState:
        """A fresh training state from config.seed (or starting from `params`), laid out by `state_sharding`."""

        def init(rng, given):
            init_rng, dropout_rng, state_rng = jax.random.split(rng, 3)
            fresh = given is None
            params = self.objective.init_params({"params": init_rng, "dropout": dropout_rng}) if fresh else given
            return create_train_state(params, self.optimizer, state_rng, self.run.loop.power_ema_sigma_rels)

        return jax.jit(init, out_shardings=self.state_sharding())(jax.random.PRNGKey(self.run.seed), params)

    def abstract_params(self):
        """Shapes and dtypes of the network's parameters, without computing them."""
        init = lambda rng: self.objective.init_params({"params": rng, "dropout": rng})
        return jax.eval_shape(init, jax.random.PRNGKey(0))

    def _abstract_state_shapes(self):
        """Shapes and dtypes of the training state, traced once per run (start-up asks for them
        several times: restore, initialisation, the train step's shardings)."""

        def init(rng):
            params = self.objective.init_params({"params": rng, "dropout": rng})
            return create_train_state(params, self.optimizer, rng, self.run.loop.power_ema_sigma_rels)

        return self.program("abstract_state_shapes", lambda: jax.eval_shape(init, jax.random.PRNGKey(0)))

    def state_sharding(self):
        """The training state's shardings by the device layout (`DeviceLayout.state_sharding`)."""
        return self.layout.state_sharding(self._abstract_state_shapes())

    def abstract_state(self):
        """Shapes, dtypes and shardings of the training state, without computing it (checkpoints
        restore onto it: a checkpoint written on another mesh is laid out for this one)."""
        return jax.tree.map(
            lambda x, sharding: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
            self._abstract_state_shapes(),
            self.state_sharding(),
        )

    def on_local_devices(self) -> "Setup":
        """This setup over this process's devices alone (`DeviceLayout.local`); programs are its own."""
        local = self.layout.local()
        return self if local is self.layout else dataclasses.replace(self, layout=local, programs={})


def parameter_count(params) -> int:
    return int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(params)))


def build(
    config,
    process_index: int | None = None,
    process_count: int | None = None,
    data: Data | None = None,
    with_data: bool = True,
    with_weights: bool = True,
) -> Setup:
    """Builds and checks everything named in `config`; a bad setting fails here with one line.

    `data` replaces the dataset named in the config (benchmarks use random images); without
    `with_data` no dataset is read (modes that need none: sampling, --mode check); without
    `with_weights` a latent model's autoencoder is read from its config alone (its shapes; no checkpoint).
    """
    check_config(config)
    check_dispatch_boundaries(config.training)
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    latent = load_latent_space(config, build, with_weights) if str(config.data.latents_of) else None
    sde = get_sde(config)
    if not 0.0 < float(config.training.eps) < sde.T:
        raise ValueError(
            f"config.training.eps={config.training.eps!r} must lie in (0, T={sde.T:g}) of "
            f"config.training.sde={config.training.sde!r}"
        )
    kind = objective_class(config)
    parts = Parts(
        process=sde,
        parameterization=get_parameterization(config, sde, kind.default_parameterization),
        network=get_model(config if latent is None else latent_network_config(config, latent)),
        event_shape=event_shape(config) if latent is None else latent.latent_shape,
        num_classes=int(config.model.num_classes),
        data_range=((-1.0, 1.0) if config.data.centered else (0.0, 1.0)) if len(event_shape(config)) == 3 else None,
        latent=latent,
    )
    objective = kind.from_config(config, parts)
    optimizer = objective.optimizer(make_optimizer(config.optim))
    sampler = get_sampler(config.sampling, objective) if "samples" in objective.figures else None
    if not 0.0 < float(config.sampling.eps) < sde.T:
        raise ValueError(
            f"config.sampling.eps={config.sampling.eps!r} must lie in (0, T={sde.T:g}) of "
            f"config.training.sde={config.training.sde!r}"
        )
    if len(event_shape(config)) != 3 and (config.eval.likelihood, config.eval.dequantization) != ("ode", "uniform"):
        raise ValueError(
            f"config.eval.likelihood={config.eval.likelihood!r} / dequantization={config.eval.dequantization!r} "
            "concern 8-bit images; for 2-D data the likelihood is the exact NLL by the ODE ('ode', 'uniform')"
        )
    check_batch_split(int(config.training.batch_size), process_count, jax.device_count(), "config.training.batch_size")
    if int(config.eval.batch_size) % jax.local_device_count():
        raise ValueError(
            f"config.eval.batch_size={config.eval.batch_size} must be divisible by the number of this process's "
            f"devices ({jax.local_device_count()}): each process computes whole batches of the evaluation jobs"
        )
    if with_data:
        data = data or get_data(config, process_index, process_count)
        check_class_conditioning(config, data)
        data = objective.data_view(data)
    layout = DeviceLayout.over_all_devices(int(config.training.fsdp), int(config.training.fsdp_min_size))
    weak = load_weak_model(config, parts, build, with_weights) if str(config.sampling.autoguidance) else None
    run = RunSettings.from_config(config)
    return Setup(config, run, objective, parts, optimizer, sampler, layout, data, weak)


def latent_network_config(config, latent: LatentSpace):
    """`config` with config.data describing the latents, which the score network is built for:
    their size and channels, and centred (the network takes them as they are)."""
    if is_toy(config) or config.model.name == "autoencoder":
        raise ValueError(
            "config.data.latents_of: a latent score model needs image data and a score network "
            f"(config.model.name={config.model.name!r}, config.data.dataset={config.data.dataset!r})"
        )
    size, _, channels = latent.latent_shape
    network_config = config.copy_and_resolve_references()
    network_config.data.image_size, network_config.data.num_channels, network_config.data.centered = (
        size,
        channels,
        True,
    )
    return network_config
