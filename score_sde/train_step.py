"""Training state, optimizer and the jitted train step (several steps per dispatch)."""

import dataclasses
import warnings
from collections.abc import Callable

import flax
import jax
import jax.numpy as jnp
import optax

from score_sde._types import Array
from score_sde.posthoc_ema import power_ema_weight
from score_sde.settings import BELOW_ONE, NON_NEGATIVE, POSITIVE, Setting


@flax.struct.dataclass
class TrainState:
    """Everything training needs, as one pytree. Step k uses the key fold_in(rng, k)."""

    step: Array
    params: object
    opt_state: object
    ema_params: object
    rng: Array
    # power-function EMAs of post-hoc EMA (EDM2), one per tracked sigma_rel (`score_sde.posthoc_ema`)
    power_emas: tuple = ()
    power_ema_sigma_rels: tuple[float, ...] = flax.struct.field(pytree_node=False, default=())


# Leaves that VDM's AdamW leaves out of weight decay, every bias: flax's `bias`, the NIN layers' `b`
# (VDM's attention uses Dense layers for them) and a learned schedule's own (gamma_min is VDM's l1 bias).
BIAS_NAMES = ("bias", "b", "l2_bias", "gamma_min")


def weight_decay_mask(params):
    """True for every leaf of `params` that weight decay applies to: all but those named in BIAS_NAMES."""
    return jax.tree_util.tree_map_with_path(lambda path, _: getattr(path[-1], "key", None) not in BIAS_NAMES, params)


def make_optimizer(optim_config) -> optax.GradientTransformation:
    """Adam with linear warm-up over `warmup` steps and global-norm clipping at `grad_clip`
    (the reference's optimizer). A negative `grad_clip` disables clipping; 0 is refused, since
    the reference would clip every gradient to norm 0 there. Decoupled weight decay applies to every
    leaf, or with `decay_biases=False` to all but the biases (`weight_decay_mask`, as VDM)."""
    if optim_config.optimizer.lower() != "adam":
        raise ValueError(f"config.optim.optimizer={optim_config.optimizer!r}: only 'Adam' is supported")
    if optim_config.grad_clip == 0:
        raise ValueError("config.optim.grad_clip=0: give a positive norm, or a negative value for no clipping")
    lr = float(optim_config.lr)
    schedule = optax.linear_schedule(0.0, lr, int(optim_config.warmup)) if optim_config.warmup > 0 else lr
    adam = optax.adamw(
        schedule,
        b1=float(optim_config.beta1),
        b2=float(optim_config.beta2),
        eps=float(optim_config.eps),
        weight_decay=float(optim_config.weight_decay),
        mask=None if bool(optim_config.decay_biases) else weight_decay_mask,
    )
    if optim_config.grad_clip > 0:
        return optax.chain(optax.clip_by_global_norm(float(optim_config.grad_clip)), adam)
    return adam


def create_train_state(
    params, optimizer: optax.GradientTransformation, rng: Array, power_ema_sigma_rels: tuple[float, ...] = ()
) -> TrainState:
    """Step 0 of training `params`: the EMA and one power-function EMA per width in
    `power_ema_sigma_rels` (post-hoc EMA) start at them."""
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=optimizer.init(params),
        ema_params=jax.tree.map(jnp.copy, params),
        rng=rng,
        power_emas=tuple(jax.tree.map(jnp.copy, params) for _ in power_ema_sigma_rels),
        power_ema_sigma_rels=tuple(float(s) for s in power_ema_sigma_rels),
    )


def ema_decay(ema_rate: float, halflife_kimg: float = 0.0, rampup_ratio: float = 0.0, batch_size: int = 1):
    """decay(step) -> the EMA's decay at optimizer step `step` (0-based).

    With halflife_kimg = 0 a constant `ema_rate` (the reference). Otherwise EDM's EMA by
    half-life in images: decay = 0.5^(batch_size / h) with h = halflife_kimg * 1000, capped at
    rampup_ratio times the images seen before the step when rampup_ratio > 0 (EDM: 500 kimg, 0.05).
    """
    if halflife_kimg <= 0:
        return lambda step: jnp.asarray(ema_rate, jnp.float32)

    def decay(step):
        halflife = jnp.asarray(halflife_kimg * 1000.0, jnp.float32)
        if rampup_ratio > 0:
            halflife = jnp.minimum(halflife, step.astype(jnp.float32) * batch_size * rampup_ratio)
        return 0.5 ** (batch_size / jnp.maximum(halflife, 1e-8))

    return decay


def _towards(average, params, weight: Array):
    """average + weight (params - average), leaf by leaf."""
    return jax.tree.map(lambda a, p: a + weight * (p - a), average, params)


def make_train_step(
    loss_fn: Callable[[object, Array, object], Array] | None,
    optimizer: optax.GradientTransformation,
    ema_rate: float | Callable[[Array], Array],
    *,
    value_and_grad: Callable | None = None,
    unroll: int | bool = 1,
    state_sharding=None,
    batch_sharding=None,
    metrics_sharding=None,
) -> Callable[[TrainState, object], tuple[TrainState, dict]]:
    """Returns a jitted `run(state, batches) -> (state, metrics)` doing one optimizer step per
    leading entry of `batches` (a pytree of (n_jitted_steps, B, ...) arrays) with `lax.scan`.

    `ema_rate` is the EMA's decay, or a function of the step giving it (`ema_decay`);
    `state.power_emas` follow the power-function EMAs of `state.power_ema_sigma_rels`. The step
    differentiates `loss_fn(params, rng, batch)` with `jax.value_and_grad`, or, instead of a
    `loss_fn` (None), calls `value_and_grad(params, rng, batch, step) -> (loss, grads)`: an
    objective's own gradient (the VDM bound's schedule gradient) or one with a schedule over
    training steps (`score_sde.objectives.Objective.value_and_grad`).

    The state and the batches are donated. `unroll` is passed to `lax.scan`: XLA:CPU runs the
    weight gradients of convolutions inside a loop about 28x slower than outside one, so
    unroll fully on CPU. With shardings given, the state is laid out by `state_sharding` (a
    sharding or a pytree of them), the batches by `batch_sharding` and the metrics by
    `metrics_sharding`. metrics["loss"]: (n_jitted_steps,).
    `run.lower(state, batches)` lowers the jitted function without running it.
    """

    if (loss_fn is None) == (value_and_grad is None):
        raise ValueError("make_train_step needs a loss_fn or a value_and_grad, not both")
    if loss_fn is not None:
        gradient = jax.value_and_grad(loss_fn)
        value_and_grad = lambda params, rng, batch, step: gradient(params, rng, batch)
    assert value_and_grad is not None
    decay_at = ema_rate if callable(ema_rate) else (lambda step: ema_rate)

    def step(state: TrainState, batch):
        rng = jax.random.fold_in(state.rng, state.step)
        loss, grads = value_and_grad(state.params, rng, batch, state.step)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        decay = decay_at(state.step)
        ema = jax.tree.map(lambda e, p: decay * e + (1.0 - decay) * p, state.ema_params, params)
        powers = tuple(
            _towards(power_ema, params, power_ema_weight(sigma_rel, state.step + 1))
            for sigma_rel, power_ema in zip(state.power_ema_sigma_rels, state.power_emas, strict=True)
        )
        new_state = dataclasses.replace(
            state, step=state.step + 1, params=params, opt_state=opt_state, ema_params=ema, power_emas=powers
        )
        return new_state, {"loss": loss}

    def run(state: TrainState, batches):
        if jax.tree.leaves(batches)[0].shape[0] == 1:  # XLA:CPU runs a 1-step scan ~20x slower than the step
            state, metrics = step(state, jax.tree.map(lambda b: b[0], batches))
            return state, jax.tree.map(lambda m: m[None], metrics)
        return jax.lax.scan(step, state, batches, unroll=unroll)

    if state_sharding is None:
        jitted = jax.jit(run, donate_argnums=(0, 1))
    else:
        jitted = jax.jit(
            run,
            donate_argnums=(0, 1),
            in_shardings=(state_sharding, batch_sharding),
            out_shardings=(state_sharding, metrics_sharding),
        )

    def run_donating(state: TrainState, batches):
        # batches (and state leaves the step replaces) cannot always alias an output; donating them
        # still frees their memory at once, so the warning about it is noise
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
            return jitted(state, batches)

    run_donating.lower = jitted.lower  # type: ignore[attr-defined]  # for inspection: HLO, cost and memory analyses
    return run_donating


def _adam(name) -> str | None:
    return None if str(name).lower() == "adam" else "choose from ('Adam',)"


def _grad_clip(norm) -> str | None:
    if norm == 0:
        return (
            "must be a positive norm, or negative for no clipping (0 would clip every gradient to zero, as the "
            "reference does)"
        )
    return None


def _sigma_rels(values) -> str | None:
    if any(not 0.0 < float(v) < 12**-0.5 for v in values):
        return "must hold relative widths in (0, 1 / sqrt(12) = 0.2887), e.g. EDM2's (0.05, 0.1)"
    return None


SETTINGS = {  # the config fields this module reads (score_sde.settings)
    "model.ema_rate": Setting(0.9999, "exponential moving average of the parameters: its decay per step", BELOW_ONE),
    "model.ema_halflife_kimg": Setting(
        0.0, "> 0: EDM's EMA by half-life in thousands of images instead of ema_rate", NON_NEGATIVE
    ),
    "model.ema_rampup_ratio": Setting(
        0.0, ("with ema_halflife_kimg: half-life at most this times the images seen (EDM 0.05)"), NON_NEGATIVE
    ),
    "model.power_ema_sigma_rels": Setting(
        (),
        "post-hoc EMA (EDM2): the sigma_rel of each power-function EMA tracked in training (EDM2: (0.05, 0.1)); "
        "the kept snapshots then reconstruct any other (config.eval.posthoc_sigma_rel)",
        _sigma_rels,
    ),
    "optim.optimizer": Setting("Adam", "Adam (with decoupled weight decay when weight_decay > 0)", _adam),
    "optim.lr": Setting(0.0002, "peak learning rate", NON_NEGATIVE),
    "optim.beta1": Setting(0.9, "Adam's beta1", BELOW_ONE),
    "optim.beta2": Setting(0.999, "Adam's beta2", BELOW_ONE),
    "optim.eps": Setting(1e-08, "Adam's epsilon", POSITIVE),
    "optim.weight_decay": Setting(0.0, "decoupled weight decay", NON_NEGATIVE),
    "optim.decay_biases": Setting(
        True, ("weight decay on biases too (False: every leaf named bias is left out, as VDM)")
    ),
    "optim.warmup": Setting(5000, "steps of linear learning-rate warm-up (0: none)", NON_NEGATIVE),
    "optim.grad_clip": Setting(
        1.0, ("global-norm gradient clipping at this norm (> 0), or -1: none (0 is refused)"), _grad_clip
    ),
}
