"""Type aliases shared across the package."""

from collections.abc import Callable

import jax

Array = jax.Array
# an array or anything jnp.asarray takes (numpy arrays, Python scalars)
ArrayLike = jax.typing.ArrayLike
PRNGKey = jax.Array
# score_fn(x (B, *event), t (B,)) -> grad_x log p_t(x), shaped like x
ScoreFn = Callable[[Array, Array], Array]
# denoiser(x (B, *event), t (B,)) -> E[x_0 | x_t = x], shaped like x
DenoiserFn = Callable[[Array, Array], Array]
# net_fn(x_in (B, *event), c_noise (B,)) -> raw network output, shaped like x
NetFn = Callable[[Array, Array], Array]
# net_apply(params, x_in, c_noise, dropout_rng or None, labels or None) -> raw network output
# (`score_sde.models.NetApply` is one, for a Flax module)
NetApplyFn = Callable[..., Array]
# the number of score (network) evaluations of a solve, on the whole batch: an int32 scalar array
NFE = jax.Array
