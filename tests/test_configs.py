"""The shipped configs: one schema, the reference's CIFAR-10 recipes field for field, every
field settable on every config, and every misspelt or invalid field refused at start-up."""

import importlib
import pkgutil

import pytest

import score_sde
from score_sde.config import COMPONENTS, base_config, eval_settings, schema
from score_sde.runner.config_check import check_config
from score_sde.runner.setup import build

SHIPPED = [
    "quickstart",
    "toy2d",
    "vp.cifar10_ddpmpp_continuous",
    "vp.cifar10_ddpmpp_deep_continuous",
    "subvp.cifar10_ddpmpp_continuous",
    "ve.cifar10_ncsnpp_continuous",
    "ve.cifar10_ncsnpp_deep_continuous",
    "latent.digits_autoencoder",
    "latent.digits",
    "latent.cifar10",
    "distill.digits_progressive",
    "distill.digits_consistency",
    *(f"fashion_mnist.{name}{size}" for name in ("vp", "edm", "flow", "vdm") for size in ("", "_full")),
]
CIFAR10 = SHIPPED[2:7]

# Every field the official score_sde code sets, transcribed from its configs/default_cifar10_configs.py
# and configs/{vp,subvp,ve}/cifar10_*_continuous.py, plus the sampling eps its run_lib.py picks by SDE
# (1e-3 for VP and sub-VP, 1e-5 for VE).
REFERENCE_DEFAULTS = {
    "seed": 42,
    "training.batch_size": 128,
    "training.n_iters": 1300001,
    "training.snapshot_freq": 50000,
    "training.log_freq": 50,
    "training.eval_freq": 100,
    "training.snapshot_freq_for_preemption": 10000,
    "training.snapshot_sampling": True,
    "training.likelihood_weighting": False,
    "training.continuous": True,
    "training.n_jitted_steps": 5,
    "training.reduce_mean": False,
    "sampling.n_steps_each": 1,
    "sampling.noise_removal": True,
    "sampling.probability_flow": False,
    "sampling.snr": 0.16,
    "eval.begin_ckpt": 9,
    "eval.end_ckpt": 26,
    "eval.batch_size": 1024,
    "eval.enable_sampling": False,
    "eval.num_samples": 50000,
    "eval.enable_loss": True,
    "eval.enable_bpd": False,
    "eval.bpd_dataset": "test",
    "data.dataset": "CIFAR10",
    "data.image_size": 32,
    "data.random_flip": True,
    "data.centered": False,
    "data.uniform_dequantization": False,
    "data.num_channels": 3,
    "model.sigma_min": 0.01,
    "model.sigma_max": 50,
    "model.num_scales": 1000,
    "model.beta_min": 0.1,
    "model.beta_max": 20.0,
    "model.dropout": 0.1,
    "model.embedding_type": "fourier",
    "optim.weight_decay": 0,
    "optim.optimizer": "Adam",
    "optim.lr": 2e-4,
    "optim.beta1": 0.9,
    "optim.eps": 1e-8,
    "optim.warmup": 5000,
    "optim.grad_clip": 1.0,
}
# The reference's evaluation conventions, which it hard-codes rather than configures: samples
# truncated to 8 bits, one reverse-diffusion step ending an ODE solve, continuous labels in the
# probability-flow ODE, one Inception Score over all samples, and bits/dim repeats by split.
REFERENCE_BEHAVIOUR = {
    "sampling.to_uint8": "truncate",
    "sampling.ode_denoise_step": "reverse_diffusion",
    "sampling.ode_score": "continuous",
    "eval.inception_score_splits": 1,
    "eval.bpd_num_repeats": 0,
}
NCSNPP_SHARED = {
    "model.name": "ncsnpp",
    "model.normalization": "GroupNorm",
    "model.nonlinearity": "swish",
    "model.nf": 128,
    "model.ch_mult": (1, 2, 2, 2),
    "model.attn_resolutions": (16,),
    "model.resamp_with_conv": True,
    "model.conditional": True,
    "model.fir_kernel": (1, 3, 3, 1),
    "model.skip_rescale": True,
    "model.resblock_type": "biggan",
    "model.progressive": "none",
    "model.progressive_combine": "sum",
    "model.attention_type": "ddpm",
    "model.init_scale": 0.0,
    "model.fourier_scale": 16,
    "model.conv_size": 3,
    "sampling.method": "pc",
}
DDPMPP = {
    **NCSNPP_SHARED,
    "training.reduce_mean": True,
    "sampling.predictor": "euler_maruyama",
    "sampling.corrector": "none",
    "data.centered": True,
    "model.scale_by_sigma": False,
    "model.ema_rate": 0.9999,
    "model.fir": False,
    "model.progressive_input": "none",
    "model.embedding_type": "positional",
    "sampling.eps": 1e-3,
}
NCSNPP_VE = {
    **NCSNPP_SHARED,
    "training.sde": "vesde",
    "sampling.predictor": "reverse_diffusion",
    "sampling.corrector": "langevin",
    "model.scale_by_sigma": True,
    "model.ema_rate": 0.999,
    "model.fir": True,
    "model.progressive_input": "residual",
    "sampling.eps": 1e-5,
}
REFERENCE = {
    "vp.cifar10_ddpmpp_continuous": {**DDPMPP, "training.sde": "vpsde", "model.num_res_blocks": 4},
    "vp.cifar10_ddpmpp_deep_continuous": {
        **DDPMPP,
        "training.sde": "vpsde",
        "model.num_res_blocks": 8,
        "training.n_iters": 950001,
    },
    "subvp.cifar10_ddpmpp_continuous": {**DDPMPP, "training.sde": "subvpsde", "model.num_res_blocks": 4},
    "ve.cifar10_ncsnpp_continuous": {**NCSNPP_VE, "model.num_res_blocks": 4},
    "ve.cifar10_ncsnpp_deep_continuous": {**NCSNPP_VE, "model.num_res_blocks": 8, "training.n_iters": 950001},
}


def _load(name):
    return importlib.import_module(f"configs.{name}").get_config()


def _get(config, path):
    for key in path.split("."):
        config = config[key]
    return config


def _fields(config, prefix=""):
    for key in config.keys():
        value = config[key]
        if hasattr(value, "keys"):
            yield from _fields(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


@pytest.mark.parametrize("name", CIFAR10)
def test_cifar10_configs_set_every_field_the_reference_sets(name):
    config = _load(name)
    expected = {**REFERENCE_DEFAULTS, **REFERENCE_BEHAVIOUR, **REFERENCE[name]}
    got = {path: _get(config, path) for path in expected}
    normalise = lambda v: tuple(v) if isinstance(v, (list, tuple)) else v
    assert {k: normalise(v) for k, v in got.items()} == {k: normalise(v) for k, v in expected.items()}


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_has_exactly_the_schema_and_passes_its_checks(name):
    config = _load(name)
    assert sorted(_fields(config)) == sorted(_fields(base_config()))
    check_config(config)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_field_can_be_set_on_every_shipped_config(name):
    """What --config.<field>=value does (a locked config refuses new fields): every schema field
    exists on every shipped config, so any documented override works."""
    config = _load(name)
    config.lock()
    for path in _fields(base_config()):
        *sections, field = path.split(".")
        node = config
        for section in sections:
            node = node[section]
        node[field] = node[field]  # raises on a field the config lacks


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("sampling.predictor", "nosuchpredictor", "config.sampling.predictor='nosuchpredictor': choose from"),
        ("sampling.ode_solver", "rk45", "config.sampling.ode_solver='rk45': choose from"),
        ("training.loss_weighting", "snr", "config.training.loss_weighting='snr': choose from"),
        ("model.parameterization", "score", "config.model.parameterization='score': choose from"),
        ("eval.likelihood_trace", "skilling", "config.eval.likelihood_trace='skilling': choose from"),
        ("model.ema_rate", 1.5, r"config.model.ema_rate must lie in \[0, 1\); got 1.5"),
        ("sampling.eta", "0.5", "config.sampling.eta must be a number; got '0.5'"),
        ("optim.grad_clip", 0.0, "config.optim.grad_clip must be a positive norm, or negative for no clipping"),
        ("sampling.to_uint8", "floor", "config.sampling.to_uint8='floor': choose from"),
        ("sampling.ode_score", "labels", "config.sampling.ode_score='labels': choose from"),
        ("eval.inception_score_splits", 0, "config.eval.inception_score_splits must be a positive integer"),
        ("model.sigma_min", 60.0, "config.model.sigma_min=60.0 must be smaller than config.model.sigma_max=10.0"),
    ],
)
def test_an_invalid_value_is_refused_even_where_the_method_does_not_read_it(path, value, message):
    config = _load("toy2d")  # sampling.method is "sde": it reads no predictor, ODE solver or eta
    *sections, field = path.split(".")
    node = config
    for section in sections:
        node = node[section]
    with node.ignore_type():  # a config file can hold any type; the command line checks types itself
        node[field] = value
    with pytest.raises(ValueError, match=message) as error:
        check_config(config)
    assert "\n" not in str(error.value)


def test_unknown_and_missing_fields_are_refused_with_a_suggestion():
    config = _load("quickstart")
    config.sampling.predicter = "euler_maruyama"
    with pytest.raises(ValueError, match="config.sampling.predicter is not a setting: did you mean sampling.predictor"):
        check_config(config)
    config = _load("quickstart")
    del config.eval["num_samples"]
    with pytest.raises(ValueError, match="config.eval.num_samples is missing"):
        check_config(config)


def test_sampling_eps_and_training_eps_are_checked_against_the_process():
    config = _load("toy2d")
    config.training.sde, config.sampling.eps = "linear_flow", 0.9995  # beyond LinearFlow's T = 0.999
    with pytest.raises(ValueError, match=r"config.sampling.eps=0.9995 must lie in \(0, T=0.999\)"):
        build(config, with_data=False)


def test_bits_per_dim_repeats_default_to_the_reference_counts_by_split():
    config = _load("vp.cifar10_ddpmpp_continuous")
    assert eval_settings(config)["bpd_num_repeats"] == 5  # test split
    config.eval.bpd_dataset = "train"
    assert eval_settings(config)["bpd_num_repeats"] == 1
    config.eval.bpd_num_repeats = 3
    assert eval_settings(config)["bpd_num_repeats"] == 3


def test_the_cifar10_autoencoder_config_has_the_schema_and_passes_its_checks():
    config = importlib.import_module("configs.latent.cifar10").get_config("autoencoder")
    assert sorted(_fields(config)) == sorted(_fields(base_config()))
    check_config(config)
    assert config.model.name == "autoencoder" and config.model.ae_channel_mult == (1, 2, 4)


def test_every_settings_table_is_part_of_the_schema_and_no_field_is_declared_twice():
    tables = {}
    for info in pkgutil.walk_packages(score_sde.__path__, "score_sde."):
        module = importlib.import_module(info.name)
        if isinstance(getattr(module, "SETTINGS", None), dict):
            tables[info.name] = module.SETTINGS
    assert sorted(tables) == sorted(COMPONENTS)
    names = [name for table in tables.values() for name in table]
    assert len(names) == len(set(names)) and sorted(names) == sorted(schema())
