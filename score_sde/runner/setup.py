"""Everything a run builds from its config, checked once at start-up before any heavy work."""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from score_sde.datasets import Data, get_data
from score_sde.datasets.pipeline import check_batch_split
from score_sde.guidance import classifier_free_guided_score
from score_sde.losses import get_loss_fn, get_score_fn
from score_sde.models import get_model, make_net_apply
from score_sde.parallel import batch_sharded, data_mesh, replicated
from score_sde.sampling import get_sampler
from score_sde.sde import SDE, get_sde
from score_sde.train import TrainState, create_train_state, make_optimizer

Array = jax.Array
TRAINING_INTS = ("n_iters", "batch_size", "n_jitted_steps", "log_freq", "eval_freq", "snapshot_freq",
                 "snapshot_freq_for_preemption")


def check_training_config(training) -> None:
    """Positive integers where needed; checkpoint frequencies that land on dispatch boundaries."""
    for field in TRAINING_INTS:
        value = training.get(field, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"config.training.{field} must be a positive integer; got {value!r}")
    for field in ("snapshot_freq", "snapshot_freq_for_preemption"):
        if training[field] % training.n_jitted_steps:
            raise ValueError(
                f"config.training.{field}={training[field]} must be a multiple of config.training.n_jitted_steps="
                f"{training.n_jitted_steps} (checkpoints are taken between dispatches)")


def check_class_conditioning(config, data: Data) -> None:
    """A class-conditional network needs labelled data with the same number of classes."""
    num_classes = int(config.model.get("num_classes", 0))
    if num_classes and num_classes != data.num_classes:
        raise ValueError(f"config.model.num_classes={num_classes}, but dataset {data.name!r} has "
                         f"{data.num_classes} classes (0: unlabelled)")
    dropout = float(config.training.get("label_dropout", 0.0))
    if not 0.0 <= dropout <= 1.0:
        raise ValueError(f"config.training.label_dropout must be a probability in [0, 1]; got {dropout!r}")


@dataclasses.dataclass(frozen=True)
class Setup:
    """The SDE, network, data, optimizer, sampler and device layout of a run."""

    config: object
    sde: SDE
    model: object
    data: Data
    optimizer: object
    sampler: Callable
    mesh: object

    @property
    def continuous(self) -> bool:
        return bool(self.config.training.continuous)

    @property
    def num_classes(self) -> int:
        """Classes of a class-conditional network (label `num_classes` is "no label"); 0 if none."""
        return int(self.config.model.get("num_classes", 0))

    def net_apply(self, params, x, time_cond, dropout_rng=None, labels=None):
        return make_net_apply(self.model)(params, x, time_cond, dropout_rng, labels)

    def score_fn(self, params, labels: Array | None = None) -> Callable[[Array, Array], Array]:
        """score_fn(x, t) of the network with `params` (evaluation mode); a class-conditional
        network scores for class `labels` (B,), or unconditionally (the null label) without them."""
        num_classes = self.num_classes

        def net_fn(x, time_cond):
            given = labels
            if num_classes and given is None:
                given = jnp.full((x.shape[0],), num_classes)
            return self.net_apply(params, x, time_cond, None, given)

        return get_score_fn(self.sde, net_fn, self.continuous)

    def sampling_score_fn(self, params, batch_size: int) -> Callable[[Array, Array], Array]:
        """The score to sample with: unconditional, or for a class-conditional network the
        classifier-free guided score (weight sampling.guidance_scale) of sampling.class_label
        (-1: classes 0, 1, ... in turn along the batch)."""
        if not self.num_classes:
            return self.score_fn(params)
        sampling = self.config.sampling
        label = int(sampling.get("class_label", -1))
        labels = jnp.arange(batch_size) % self.num_classes if label < 0 else jnp.full((batch_size,), label)
        return classifier_free_guided_score(lambda x, t, y: self.score_fn(params, y)(x, t), labels,
                                            self.num_classes, float(sampling.get("guidance_scale", 0.0)))

    def loss_fn(self, train: bool) -> Callable[[object, Array, Array], Array]:
        """loss(params, rng, x) for model-range inputs x, as configured in config.training."""
        training = self.config.training
        return get_loss_fn(self.sde, self.net_apply, continuous=self.continuous,
                           reduce_mean=bool(training.reduce_mean),
                           likelihood_weighting=bool(training.likelihood_weighting), train=train)

    def init_state(self) -> TrainState:
        """A fresh training state from config.seed, replicated over the mesh."""

        def init(rng):
            init_rng, dropout_rng, state_rng = jax.random.split(rng, 3)
            params = self._init_params({"params": init_rng, "dropout": dropout_rng})
            return create_train_state(params, self.optimizer, state_rng)

        return jax.jit(init, out_shardings=self.replicated)(jax.random.PRNGKey(int(self.config.seed)))

    def abstract_state(self):
        """Shapes, dtypes and shardings of the training state, without computing it."""

        def init(rng):
            return create_train_state(self._init_params({"params": rng, "dropout": rng}), self.optimizer, rng)

        abstract = jax.eval_shape(init, jax.random.PRNGKey(0))
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.replicated), abstract)

    def _init_params(self, rngs):
        shape = (1, *self.data.event_shape)
        labels = {"class_labels": jnp.full((1,), self.num_classes)} if self.num_classes else {}
        return self.model.init(rngs, jnp.zeros(shape), jnp.ones((1,)), **labels)["params"]

    @property
    def replicated(self):
        return replicated(self.mesh)

    def batch_sharding(self, batch_axis: int = 0):
        return batch_sharded(self.mesh, batch_axis)


def build(config, process_index: int | None = None, process_count: int | None = None, data: Data | None = None) -> Setup:
    """Builds and checks everything named in `config`; a bad name fails here with one message.

    `data` replaces the dataset named in the config (benchmarks use random images).
    """
    check_training_config(config.training)
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    sde = get_sde(config)
    model = get_model(config)
    get_loss_fn(sde, make_net_apply(model), continuous=bool(config.training.continuous))  # checks the SDE/loss pair
    optimizer = make_optimizer(config.optim)
    sampler = get_sampler(config, sde)
    check_batch_split(int(config.training.batch_size), process_count, jax.device_count(), "config.training.batch_size")
    data = data or get_data(config, process_index, process_count)
    check_class_conditioning(config, data)
    return Setup(config, sde, model, data, optimizer, sampler, data_mesh())
