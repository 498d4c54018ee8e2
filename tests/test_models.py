import importlib
import itertools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from score_sde.config import base_config
from score_sde.models import get_model
from score_sde.models.convert import from_pytorch_state_dict, load_pytorch_checkpoint, state_dict_from_checkpoint
from score_sde.models.resampling import downsample_2d, naive_downsample_2d, upsample_2d

FIXTURES = Path(__file__).parent / "fixtures" / "ncsnpp"


def _config(model: dict, image_size=8, num_channels=3, centered=False, continuous=True):
    base = dict(
        name="ncsnpp",
        nf=8,
        ch_mult=(1, 2),
        num_res_blocks=1,
        attn_resolutions=(4,),
        dropout=0.0,
        resamp_with_conv=True,
        conditional=True,
        fir=False,
        fir_kernel=(1, 3, 3, 1),
        skip_rescale=True,
        resblock_type="biggan",
        progressive="none",
        progressive_input="none",
        progressive_combine="sum",
        embedding_type="positional",
        fourier_scale=16.0,
        init_scale=0.0,
        scale_by_sigma=False,
        sigma_min=0.01,
        sigma_max=50.0,
        num_scales=1000,
    )
    base.update(model)
    config = base_config()
    config.model.update(base)
    config.data.update({"image_size": image_size, "num_channels": num_channels, "centered": centered})
    config.training.continuous = continuous
    return config


def _fixture(name):
    meta = json.loads((FIXTURES / f"{name}.json").read_text())
    arrays = np.load(FIXTURES / f"{name}.npz")
    model = dict(meta["model_config"])
    data = {k: model.pop(k) for k in ("image_size", "num_channels", "centered")}
    config = _config(model, **data)
    state_dict = {k[len("state_dict/") :]: arrays[k] for k in arrays.files if k.startswith("state_dict/")}
    return meta, arrays, config, state_dict


FIXTURE_NAMES = sorted(path.stem for path in FIXTURES.glob("*.json"))


def test_every_shared_fixture_is_tested():
    assert FIXTURE_NAMES == [
        "ddpmpp_input_skip_cat",
        "ddpmpp_vp_small",
        "ncsnpp_ddpm_blocks_output_skip",
        "ncsnpp_output_skip_sum",
        "ncsnpp_ve_small",
    ]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_reference_outputs_are_reproduced(name):
    meta, arrays, config, state_dict = _fixture(name)
    params = from_pytorch_state_dict(state_dict, config)
    x = jnp.transpose(arrays["input_x"], (0, 2, 3, 1))  # NCHW -> NHWC
    out = jax.jit(get_model(config).apply)({"params": params}, x, jnp.asarray(arrays["input_time_cond"]))
    reference = np.transpose(arrays["output"], (0, 2, 3, 1))
    # float32 agreement with the PyTorch reference (its README: about 1e-4 relative)
    assert np.abs(out - reference).max() / np.abs(reference).max() < 1e-4
    assert sum(p.size for p in jax.tree.leaves(params)) == meta["num_parameters_including_fixed_fourier_W"]
    # the key list written from the reference's construction rules is the fixture's, in order
    rules = reference_state_dict_shapes(
        {**config.model, "image_size": config.data.image_size}, config.data.num_channels
    )
    assert list(rules) == meta["state_dict_keys"]
    assert rules == {key: value.shape for key, value in state_dict.items()}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("ve.cifar10_ncsnpp_continuous", 62_758_915),
        pytest.param("ve.cifar10_ncsnpp_deep_continuous", 107_587_075, marks=pytest.mark.slow),
        ("vp.cifar10_ddpmpp_continuous", 61_804_419),
        pytest.param("vp.cifar10_ddpmpp_deep_continuous", 106_632_579, marks=pytest.mark.slow),
        pytest.param("subvp.cifar10_ddpmpp_continuous", 61_804_419, marks=pytest.mark.slow),
    ],
)
def test_full_size_parameter_counts_match_the_reference(name, expected):
    config = importlib.import_module(f"configs.{name}").get_config()
    model = get_model(config)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)), jnp.ones((1,)))
    assert sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"])) == expected


# Every pair of values of progressive, progressive_input, resblock_type, fir and embedding_type
# appears in some row (checked below); the other knobs vary across the rows.
KNOB_ROWS = [
    ("none", "none", "biggan", False, "fourier", dict(conditional=False, scale_by_sigma=True)),
    ("none", "input_skip", "ddpm", False, "positional", dict(progressive_combine="cat", resamp_with_conv=False)),
    ("none", "residual", "ddpm", True, "positional", dict(skip_rescale=False, init_scale=0.1)),
    ("output_skip", "none", "biggan", False, "fourier", dict(dropout=0.2, fir_kernel=(1, 1))),
    ("output_skip", "input_skip", "biggan", True, "positional", dict(progressive_combine="cat")),
    ("output_skip", "residual", "ddpm", False, "positional", dict(attn_resolutions=(8, 4))),
    ("residual", "none", "ddpm", True, "positional", dict(resamp_with_conv=False, ch_mult=(1, 2, 1))),
    ("residual", "input_skip", "ddpm", True, "fourier", dict(progressive_combine="sum", num_res_blocks=2)),
    ("residual", "residual", "biggan", False, "fourier", dict(centered=True)),
]


def test_knob_rows_cover_every_pair():
    values = [
        ("none", "output_skip", "residual"),
        ("none", "input_skip", "residual"),
        ("biggan", "ddpm"),
        (False, True),
        ("fourier", "positional"),
    ]
    for a, b in itertools.combinations(range(5), 2):
        assert {(r[a], r[b]) for r in KNOB_ROWS} == set(itertools.product(values[a], values[b]))


# The default run keeps the rows whose code paths no reference fixture reaches (FIR resampling with
# convolutions in DDPM blocks and in the residual pyramids); the key-list test covers every
# structure's parameters; the other rows run with -m slow.
KNOB_DEFAULT_ROWS = (2, 6)


@pytest.mark.parametrize(
    "row",
    [pytest.param(row, marks=() if i in KNOB_DEFAULT_ROWS else pytest.mark.slow) for i, row in enumerate(KNOB_ROWS)],
    ids=[f"row{i}" for i in range(len(KNOB_ROWS))],
)
def test_every_knob_initialises_and_runs(row):
    progressive, progressive_input, resblock, fir, embedding, extra = row
    extra = dict(extra)
    centered = extra.pop("centered", False)
    config = _config(
        dict(
            progressive=progressive,
            progressive_input=progressive_input,
            resblock_type=resblock,
            fir=fir,
            embedding_type=embedding,
            **extra,
        ),
        num_channels=2,
        centered=centered,
    )
    model = get_model(config)
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 8, 8, 2))
    cond = jnp.array([0.5, 3.0]) if embedding == "fourier" else jnp.array([10.0, 700.0])
    params = model.init(jax.random.PRNGKey(1), x, cond)["params"]
    params = jax.tree.map(lambda p: p + 0.05, params)  # nonzero output layers
    apply = jax.jit(lambda p, x, c, rng: model.apply({"params": p}, x, c, train=True, rngs={"dropout": rng}))
    out = apply(params, x, cond, jax.random.PRNGKey(2))
    assert out.shape == x.shape and np.all(np.isfinite(out)) and float(jnp.abs(out).max()) > 0


def reference_state_dict_shapes(model: dict, channels: int) -> dict[str, tuple[int, ...]]:
    """The keys and shapes of score_sde_pytorch's NCSNpp state dict, written from its construction
    rules (models/ncsnpp.py and layerspp.py), independently of this project's model and importer.

    The parameter-free pyramid resamplers are attributes of the model, outside `all_modules`.
    """
    nf, ch_mult, fir = model["nf"], model["ch_mult"], model["fir"]
    temb_dim, entries = nf * 4, []

    def add(*tensors):  # one module of all_modules: (name, shape) pairs
        entries.append(dict(tensors))

    conv = lambda name, cin, cout, k=3: [(f"{name}.weight", (cout, cin, k, k)), (f"{name}.bias", (cout,))]
    norm = lambda name, c: [(f"{name}.weight", (c,)), (f"{name}.bias", (c,))]
    nin = lambda name, cin, cout: [(f"{name}.W", (cin, cout)), (f"{name}.b", (cout,))]

    def resblock(cin, cout=None, up=False, down=False):
        cout = cout or cin
        tensors = norm("GroupNorm_0", cin) + conv("Conv_0", cin, cout) + [("Dense_0.weight", (cout, temb_dim))]
        tensors += [("Dense_0.bias", (cout,))] + norm("GroupNorm_1", cout) + conv("Conv_1", cout, cout)
        if model["resblock_type"] == "ddpm":
            tensors += nin("NIN_0", cin, cout) if cin != cout else []
        elif cin != cout or up or down:
            tensors += conv("Conv_2", cin, cout, k=1)
        add(*tensors)

    def resample(cin, cout=None, with_conv=True):  # layerspp.Upsample / Downsample
        add(*(conv("Conv2d_0" if fir else "Conv_0", cin, cout or cin) if with_conv else []))

    attention = lambda c: add(*norm("GroupNorm_0", c), *[t for i in range(4) for t in nin(f"NIN_{i}", c, c)])
    if model["embedding_type"] == "fourier":
        add(("W", (nf,)))
    embed_dim = 2 * nf if model["embedding_type"] == "fourier" else nf
    if model["conditional"]:
        add(("weight", (temb_dim, embed_dim)), ("bias", (temb_dim,)))
        add(("weight", (temb_dim, temb_dim)), ("bias", (temb_dim,)))
    add(*conv("", channels, nf))
    resolutions = [model["image_size"] // 2**i for i in range(len(ch_mult))]
    hs_c, in_ch, pyramid_ch = [nf], nf, channels
    for level, mult in enumerate(ch_mult):
        for _ in range(model["num_res_blocks"]):
            resblock(in_ch, nf * mult)
            in_ch = nf * mult
            if resolutions[level] in model["attn_resolutions"]:
                attention(in_ch)
            hs_c.append(in_ch)
        if level != len(ch_mult) - 1:
            if model["resblock_type"] == "ddpm":
                resample(in_ch, with_conv=model["resamp_with_conv"])
            else:
                resblock(in_ch, down=True)
            if model["progressive_input"] == "input_skip":
                add(*conv("Conv_0", channels, in_ch, k=1))  # Combine
                in_ch *= 2 if model["progressive_combine"] == "cat" else 1
            elif model["progressive_input"] == "residual":
                resample(pyramid_ch, in_ch)
                pyramid_ch = in_ch
            hs_c.append(in_ch)
    resblock(in_ch), attention(in_ch), resblock(in_ch)
    for level in reversed(range(len(ch_mult))):
        for _ in range(model["num_res_blocks"] + 1):
            resblock(in_ch + hs_c.pop(), nf * ch_mult[level])
            in_ch = nf * ch_mult[level]
        if resolutions[level] in model["attn_resolutions"]:
            attention(in_ch)
        if model["progressive"] == "output_skip":
            add(*norm("", in_ch)), add(*conv("", in_ch, channels))
        elif model["progressive"] == "residual" and level == len(ch_mult) - 1:
            add(*norm("", in_ch)), add(*conv("", in_ch, in_ch))
            pyramid_ch = in_ch
        elif model["progressive"] == "residual":
            resample(pyramid_ch, in_ch)
            pyramid_ch = in_ch
        if level != 0:
            if model["resblock_type"] == "ddpm":
                resample(in_ch, with_conv=model["resamp_with_conv"])
            else:
                resblock(in_ch, up=True)
    if model["progressive"] != "output_skip":
        add(*norm("", in_ch)), add(*conv("", in_ch, channels))
    shapes = {"sigmas": (model["num_scales"],)}
    for index, tensors in enumerate(entries):
        shapes.update({f"all_modules.{index}.{name}".replace("..", "."): shape for name, shape in tensors.items()})
    return shapes


# Every structure the reference can build: progressive x progressive_input (with both combine
# methods for input_skip) x resblock_type x fir x embedding_type; conditioning and resampling
# convolutions alternate.
STRUCTURES = list(
    itertools.product(
        ("none", "output_skip", "residual"),
        (("none", "sum"), ("input_skip", "sum"), ("input_skip", "cat"), ("residual", "sum")),
        ("biggan", "ddpm"),
        (False, True),
        ("fourier", "positional"),
    )
)


# the default run takes three chunks that cover every progressive and progressive_input value;
# -m slow takes the other five
DEFAULT_CHUNKS = (0, 48, 84)


@pytest.mark.parametrize(
    "index",
    [
        pytest.param(i, id=f"structures{i}-{i + 11}", marks=() if i in DEFAULT_CHUNKS else pytest.mark.slow)
        for i in range(0, len(STRUCTURES), 12)
    ],
)
def test_the_importer_accepts_exactly_the_reference_state_dict_keys(index):
    rng = np.random.default_rng(index)
    for offset, (progressive, (progressive_input, combine), resblock, fir, embedding) in enumerate(
        STRUCTURES[index : index + 12]
    ):
        model = dict(
            progressive=progressive,
            progressive_input=progressive_input,
            progressive_combine=combine,
            resblock_type=resblock,
            fir=fir,
            embedding_type=embedding,
            conditional=offset % 2 == 0,
            resamp_with_conv=offset % 3 != 1,
            attn_resolutions=(8,) if offset % 2 else (4,),
        )
        config = _config(model, num_channels=2)
        keys = reference_state_dict_shapes({**config.model, "image_size": 8}, channels=2)
        state_dict = {key: rng.standard_normal(shape).astype(np.float32) for key, shape in keys.items()}
        params = from_pytorch_state_dict(state_dict, config)  # raises on a missing, unexpected or misshapen key
        expected = sum(int(np.prod(s)) for k, s in keys.items() if k != "sigmas")
        if not model["conditional"]:  # the reference's blocks hold a Dense_0 even then; it is never used
            expected -= sum(int(np.prod(s)) for k, s in keys.items() if ".Dense_0." in k)
        assert sum(p.size for p in jax.tree.leaves(params)) == expected
        if offset == 0:  # and rejects a state dict without its last module
            dropped = max(keys, key=lambda k: (int(k.split(".")[1]), k) if k != "sigmas" else (-1, k))
            with pytest.raises(ValueError, match=f"missing {dropped}"):
                from_pytorch_state_dict({k: v for k, v in state_dict.items() if k != dropped}, config)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            dict(attn_resolutions=(12,)),
            r"attn_resolutions=\(12,\) does not match any resolution of image_size=8 with ch_mult=\(1, 2\): "
            r"choose from \(8, 4\)",
        ),
        (dict(ch_mult=(1, 2, 2, 2)), r"image_size=8 must be divisible by 2\^\(len\(ch_mult\) - 1\) = 8"),
        (dict(progressive="skip"), r"config.model.progressive='skip': choose from"),
        (dict(resblock_type="unet"), r"config.model.resblock_type='unet'"),
        (dict(embedding_type="learned"), r"config.model.embedding_type='learned'"),
    ],
)
def test_impossible_settings_are_refused(change, message):
    config = _config(change)
    if "ch_mult" in change:
        config.data.image_size = 12
        message = message.replace("image_size=8", "image_size=12")
    with pytest.raises(ValueError, match=message):
        get_model(config)


def test_fourier_embedding_needs_continuous_training_and_channels_must_group():
    with pytest.raises(ValueError, match="needs config.training.continuous=True"):
        get_model(_config(dict(embedding_type="fourier"), continuous=False))
    model = get_model(_config(dict(nf=6)))
    with pytest.raises(ValueError, match="cannot be group-normalised"):
        jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 8, 8, 3)), jnp.ones((1,)))


def test_class_conditioning():
    config = _config(dict(num_classes=3, ch_mult=(1,), attn_resolutions=(8,)))
    model = get_model(config)
    x, cond = jnp.ones((2, 8, 8, 3)) * 0.3, jnp.array([5.0, 5.0])
    params = jax.jit(model.init)(jax.random.PRNGKey(0), x, cond, class_labels=jnp.array([0, 3]))["params"]
    params = jax.tree.map(lambda p: p + 0.05, params)
    out = jax.jit(model.apply)({"params": params}, x, cond, class_labels=jnp.array([0, 3]))
    assert not np.allclose(out[0], out[1])  # same input, different label (3 = null)
    with pytest.raises(ValueError, match="pass class_labels"):
        jax.eval_shape(model.apply, {"params": params}, x, cond)
    # mixed precision: tests/test_accelerator_features.py


def test_fir_resampling_preserves_constants_and_inverts_on_smooth_images():
    x = jnp.ones((1, 8, 8, 2))
    # away from the zero-padded border, a normalised FIR filter keeps a constant image constant
    np.testing.assert_allclose(upsample_2d(x, (1, 3, 3, 1))[:, 2:-2, 2:-2], 1.0, rtol=1e-6)
    np.testing.assert_allclose(downsample_2d(x, (1, 3, 3, 1))[:, 1:-1, 1:-1], 1.0, rtol=1e-6)
    # with the box kernel (1, 1), FIR downsampling is average pooling
    y = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 3))
    np.testing.assert_allclose(downsample_2d(y, (1, 1)), naive_downsample_2d(y), rtol=1e-5, atol=1e-6)


def test_importer_reports_missing_misshapen_and_unexpected_keys():
    _, _, config, state_dict = _fixture("ddpmpp_vp_small")
    broken = dict(state_dict)
    del broken["all_modules.3.Conv_0.weight"]
    broken["all_modules.1.weight"] = np.zeros((3, 3))
    broken["all_modules.99.extra"] = np.zeros(1)
    with pytest.raises(ValueError) as info:
        from_pytorch_state_dict(broken, config)
    text = str(info.value)
    assert "missing all_modules.3.Conv_0.weight" in text
    assert "all_modules.1.weight: shape (3, 3)" in text
    assert "unexpected all_modules.99.extra" in text
    prefixed = {f"module.{k}": v for k, v in state_dict.items()}  # DataParallel checkpoints
    params = from_pytorch_state_dict(prefixed, config)
    np.testing.assert_array_equal(params["modules_0"]["kernel"], state_dict["all_modules.0.weight"].T)


def test_ema_weights_replace_the_trainable_parameters_in_order():
    _, _, config, state_dict = _fixture("ncsnpp_ve_small")
    trainable = [k for k in state_dict if k not in ("sigmas", "all_modules.0.W")]
    checkpoint = {
        "model": {f"module.{k}": v for k, v in state_dict.items()},
        "ema": {"decay": 0.999, "num_updates": 3, "shadow_params": [state_dict[k] + 1.0 for k in trainable]},
    }
    ema_state = state_dict_from_checkpoint(checkpoint, ema=True)
    for key in trainable:
        np.testing.assert_array_equal(ema_state[key], state_dict[key] + 1.0)
    np.testing.assert_array_equal(ema_state["all_modules.0.W"], state_dict["all_modules.0.W"])  # fixed, not in EMA
    np.testing.assert_array_equal(
        state_dict_from_checkpoint(checkpoint, ema=False)["all_modules.3.weight"], state_dict["all_modules.3.weight"]
    )
    checkpoint["ema"]["shadow_params"] = checkpoint["ema"]["shadow_params"][:-1]
    with pytest.raises(ValueError, match="EMA holds"):
        state_dict_from_checkpoint(checkpoint)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pytorch_checkpoint("/nonexistent/checkpoint_26.pth", config)


def reference_style_config(fields: dict) -> ml_collections.ConfigDict:
    """A ConfigDict holding exactly `fields` ({"section.name": value}, as the official code's configs
    set them) and none of this project's own."""
    config = ml_collections.ConfigDict()
    for path, value in fields.items():
        *sections, name = path.split(".")
        node = config
        for section in sections:
            if section not in node:
                node[section] = ml_collections.ConfigDict()
            node = node[section]
        node[name] = list(value) if isinstance(value, tuple) else value
    return config


def fixture_reference_config(name: str) -> ml_collections.ConfigDict:
    """The reference config of a fixture: its config.model fields, the three data fields, continuous training."""
    model = json.loads((FIXTURES / f"{name}.json").read_text())["model_config"]
    data = {f"data.{k}": model.pop(k) for k in ("image_size", "num_channels", "centered")}
    return reference_style_config({**{f"model.{k}": v for k, v in model.items()}, **data, "training.continuous": True})


def test_reference_style_configs_build_and_import(tmp_path):
    """get_model, from_pytorch_state_dict and load_pytorch_checkpoint take a config with the reference's
    fields alone (what it lacks takes the schema's default): the full-size DDPM++ (cont.) of the
    reference's CIFAR-10 config has the reference's parameter count, and a fixture's reference config
    imports its state dict and reproduces the reference output (load_pytorch_checkpoint: next test)."""
    from tests.test_configs import REFERENCE, REFERENCE_DEFAULTS

    config = reference_style_config({**REFERENCE_DEFAULTS, **REFERENCE["vp.cifar10_ddpmpp_continuous"]})
    assert "input_fourier_exponents" not in config.model and "attention_implementation" not in config.model
    shapes = jax.eval_shape(get_model(config).init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)), jnp.ones((1,)))
    assert sum(int(np.prod(p.shape)) for p in jax.tree.leaves(shapes["params"])) == 61_804_419

    _, arrays, _, state_dict = _fixture("ddpmpp_vp_small")
    config = fixture_reference_config("ddpmpp_vp_small")
    params = from_pytorch_state_dict(state_dict, config)
    x = jnp.transpose(arrays["input_x"], (0, 2, 3, 1))
    out = jax.jit(get_model(config).apply)({"params": params}, x, jnp.asarray(arrays["input_time_cond"]))
    reference = np.transpose(arrays["output"], (0, 2, 3, 1))
    assert np.abs(out - reference).max() / np.abs(reference).max() < 1e-4


def test_a_reference_style_config_reads_a_pth_checkpoint(tmp_path):
    torch = pytest.importorskip("torch")  # optional: only the .pth reader needs it
    _, _, _, state_dict = _fixture("ddpmpp_vp_small")
    config = fixture_reference_config("ddpmpp_vp_small")
    params = from_pytorch_state_dict(state_dict, config)
    torch.save({"model": {k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()}}, tmp_path / "c.pth")
    loaded = load_pytorch_checkpoint(tmp_path / "c.pth", config, ema=False)
    jax.tree.map(np.testing.assert_array_equal, loaded, params)


def test_a_reference_pth_checkpoint_loads_with_its_ema_weights(tmp_path):
    torch = pytest.importorskip("torch")  # optional: only the .pth reader needs it
    meta, arrays, config, state_dict = _fixture("ncsnpp_ve_small")
    trainable = [k for k in state_dict if k not in ("sigmas", "all_modules.0.W")]
    shift = {k: 0.01 * np.ones_like(state_dict[k]) for k in trainable}
    checkpoint = {
        "model": {f"module.{k}": torch.from_numpy(np.array(v)) for k, v in state_dict.items()},
        "ema": {
            "decay": 0.9999,
            "num_updates": 10,
            "shadow_params": [torch.from_numpy(state_dict[k] - shift[k]) for k in trainable],
        },
        "optimizer": {},
        "step": 10,
    }
    path = tmp_path / "checkpoint_1.pth"
    torch.save(checkpoint, path)
    raw = load_pytorch_checkpoint(path, config, ema=False)
    x = jnp.transpose(arrays["input_x"], (0, 2, 3, 1))
    out = get_model(config).apply({"params": raw}, x, jnp.asarray(arrays["input_time_cond"]))
    reference = np.transpose(arrays["output"], (0, 2, 3, 1))
    assert np.abs(out - reference).max() / np.abs(reference).max() < 1e-4
    ema = load_pytorch_checkpoint(path, config)
    np.testing.assert_allclose(ema["modules_3"]["kernel"], raw["modules_3"]["kernel"] - 0.01, rtol=1e-6)
    np.testing.assert_array_equal(ema["modules_0"]["W"], raw["modules_0"]["W"])


def test_input_fourier_features_are_vdms():
    """x with sin and cos(2^n 2 pi x) of each channel appended (VDM's Base2FourierFeatures)."""
    from score_sde.models.ncsnpp import input_fourier_features

    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 3, 3, 2), minval=-1.0, maxval=1.0)
    features = np.asarray(input_fourier_features(x, (6, 7)))
    xs = np.asarray(x, np.float64)
    angles = np.stack([xs * 2**6 * 2 * np.pi, xs * 2**7 * 2 * np.pi], axis=-1).reshape(2, 3, 3, 4)
    np.testing.assert_allclose(features[..., :2], xs, rtol=0)
    np.testing.assert_allclose(features[..., 2:6], np.sin(angles), atol=2e-4)
    np.testing.assert_allclose(features[..., 6:], np.cos(angles), atol=2e-4)
