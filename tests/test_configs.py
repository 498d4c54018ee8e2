"""The CIFAR-10 configs carry the reference's published recipes; every shipped config builds."""

import importlib

import pytest


CIFAR10 = ["vp.cifar10_ddpmpp_continuous", "vp.cifar10_ddpmpp_deep_continuous", "subvp.cifar10_ddpmpp_continuous",
           "ve.cifar10_ncsnpp_continuous", "ve.cifar10_ncsnpp_deep_continuous"]

# (sde, reduce_mean, centered, predictor, corrector, ema_rate, num_res_blocks, fir, progressive_input,
#  embedding_type, scale_by_sigma, n_iters), as in the reference's config files
REFERENCE = {
    "vp.cifar10_ddpmpp_continuous": ("vpsde", True, True, "euler_maruyama", "none", 0.9999, 4, False, "none", "positional", False, 1300001),
    "vp.cifar10_ddpmpp_deep_continuous": ("vpsde", True, True, "euler_maruyama", "none", 0.9999, 8, False, "none", "positional", False, 950001),
    "subvp.cifar10_ddpmpp_continuous": ("subvpsde", True, True, "euler_maruyama", "none", 0.9999, 4, False, "none", "positional", False, 1300001),
    "ve.cifar10_ncsnpp_continuous": ("vesde", False, False, "reverse_diffusion", "langevin", 0.999, 4, True, "residual", "fourier", True, 1300001),
    "ve.cifar10_ncsnpp_deep_continuous": ("vesde", False, False, "reverse_diffusion", "langevin", 0.999, 8, True, "residual", "fourier", True, 950001),
}


@pytest.mark.parametrize("name", CIFAR10)
def test_cifar10_configs_match_the_reference_recipes(name):
    config = importlib.import_module(f"configs.{name}").get_config()
    t, m, d, o, s, e = config.training, config.model, config.data, config.optim, config.sampling, config.eval
    got = (t.sde, t.reduce_mean, d.centered, s.predictor, s.corrector, m.ema_rate, m.num_res_blocks, m.fir,
           m.progressive_input, m.embedding_type, m.scale_by_sigma, t.n_iters)
    assert got == REFERENCE[name]
    assert (t.batch_size, t.n_jitted_steps, t.snapshot_freq, t.snapshot_freq_for_preemption, t.log_freq, t.eval_freq) == (128, 5, 50000, 10000, 50, 100)
    assert (o.optimizer, o.lr, o.beta1, o.eps, o.warmup, o.grad_clip, o.weight_decay) == ("Adam", 2e-4, 0.9, 1e-8, 5000, 1.0, 0.0)
    assert (d.dataset, d.image_size, d.num_channels, d.random_flip, d.uniform_dequantization) == ("CIFAR10", 32, 3, True, False)
    assert (m.nf, tuple(m.ch_mult), tuple(m.attn_resolutions), m.dropout, m.sigma_max, m.beta_max) == (128, (1, 2, 2, 2), (16,), 0.1, 50.0, 20.0)
    assert (s.method, s.snr, s.n_steps_each, e.begin_ckpt, e.end_ckpt, e.batch_size, e.num_samples) == ("pc", 0.16, 1, 9, 26, 1024, 50000)
