"""Mixed precision, fused attention and rematerialisation: what they compute and what they save."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from score_sde.models import get_model
from score_sde.models.ncsnpp_layers import pixel_attention
from score_sde.parallel import to_global
from score_sde.runner.setup import build
from score_sde.runner.train_loop import make_run_steps
from tests.runner_helpers import tiny_image_config
from tests.test_models import _config


def test_pixel_attention_equals_the_einsum_attention_in_float32():
    q, k, v = jax.random.normal(jax.random.PRNGKey(0), (3, 2, 4, 4, 16))
    C = q.shape[-1]
    logits = jnp.einsum("bhwc,bijc->bhwij", q, k) * C**-0.5
    weights = jax.nn.softmax(jnp.reshape(logits, (2, 4, 4, 16)), axis=-1)
    expected = jnp.einsum("bhwij,bijc->bhwc", jnp.reshape(weights, (2, 4, 4, 4, 4)), v)
    np.testing.assert_allclose(pixel_attention(q, k, v), expected, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(pixel_attention(q, k, v, "xla"), expected, atol=1e-5, rtol=1e-5)


def _forward_residual_bytes(remat: bool) -> tuple[int, list]:
    """Bytes the compiled forward pass keeps for the backward pass (the VJP's residuals, as its
    output), and the gradient, of a small NCSN++ with or without remat."""
    model = get_model(_config(dict(ch_mult=(1,), num_res_blocks=3, attn_resolutions=(), remat=remat)))
    x, t = jax.random.normal(jax.random.PRNGKey(0), (4, 8, 8, 3)), jnp.ones((4,))
    params = jax.jit(model.init)(jax.random.PRNGKey(0), x, t)["params"]
    params = jax.tree.map(lambda p: p + 0.01, params)  # the zero-initialised output layers pass gradients
    loss = lambda p: jnp.sum(model.apply({"params": p}, x, t, train=True) ** 2)
    kept = jax.jit(lambda p: jax.vjp(loss, p)[1]).lower(params).compile().memory_analysis().output_size_in_bytes
    return kept, jax.tree.leaves(jax.jit(jax.grad(loss))(params))


@pytest.mark.slow  # compiles NCSN++ with and without remat (about 30 s): out of the 10-minute default tier
def test_remat_keeps_fewer_activations_for_the_same_gradient():
    kept, gradient = _forward_residual_bytes(remat=False)
    kept_remat, gradient_remat = _forward_residual_bytes(remat=True)
    assert kept_remat < 0.4 * kept  # measured: 1.49 MB -> 0.43 MB
    scale = max(float(np.abs(g).max()) for g in gradient)
    for a, b in zip(gradient, gradient_remat):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * scale)


def _operand_types(line: str) -> list[str]:
    return re.findall(r"tensor<[^>]*x(\w+)>", line.split(" : ")[-1])[:2]


def _tiny_setup(dtype: str):
    config = tiny_image_config()
    config.model.ch_mult, config.model.attn_resolutions, config.model.init_scale = (1, 2), (4,), 1.0
    config.model.dtype = dtype
    return build(config)


@pytest.mark.slow  # compiles and trains NCSN++ twice (about 30 s): out of the 10-minute default tier
def test_bfloat16_trains_with_bf16_convolutions_and_matmuls_and_matches_float32():
    setup = _tiny_setup("bfloat16")
    state = setup.init_state()
    run, sharding = make_run_steps(setup)
    raw = to_global(setup.data.train_batches(0, 1), sharding)
    lines = run.lower(state, raw).as_text().splitlines()
    convolutions = [line for line in lines if "stablehlo.convolution" in line]
    products = [line for line in lines if "stablehlo.dot_general" in line]
    assert len(convolutions) > 20 and len(products) > 10
    assert all(_operand_types(line) == ["bf16", "bf16"] for line in convolutions)
    # attention's backward multiplies float32 softmax gradients at bf16 precision (jax's algorithm preset)
    assert all(
        _operand_types(line) == ["bf16", "bf16"] or "lhs_precision_type = bf16, rhs_precision_type = bf16" in line
        for line in products
    )
    kept = jax.tree.leaves((state.params, state.opt_state, state.ema_params))
    assert all(leaf.dtype == jnp.float32 for leaf in kept if jnp.issubdtype(leaf.dtype, jnp.floating))

    # the loss on a fixed batch, with the same float32 parameters, against float32 compute
    raw = jax.tree.map(lambda b: b[0], setup.data.train_batches(0, 1))
    x = setup.data.model_input(jax.random.PRNGKey(0), raw, False)
    losses = {}
    for dtype, run_setup in (("bfloat16", setup), ("float32", _tiny_setup("float32"))):
        loss_fn = jax.jit(lambda p, k, x, y, o=run_setup.objective: o.loss(p, k, x, y, train=False))
        losses[dtype] = np.array([loss_fn(state.params, jax.random.PRNGKey(i), x, raw["label"]) for i in range(8)])
    relative = np.abs(losses["bfloat16"] / losses["float32"] - 1.0)
    # bf16 rounds each operand to 2^-9 relative; the loss, a mean over the batch of squared errors
    # through ~10 layers, carries a few such roundings (measured at most 3.4e-3): 5 units allowed
    assert relative.max() < 5 * 2.0**-9
    assert relative.max() > 1e-5  # and the bf16 run did compute in bf16
