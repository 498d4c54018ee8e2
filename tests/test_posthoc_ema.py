"""Post-hoc EMA (EDM2): the power-function profiles against a transcription of EDM2's phema.py and
against quadrature, the tracked EMA's exact step weights, and a profile reconstructed from
snapshots of two tracked ones against the same profile tracked directly."""

from pathlib import Path

import jax
import numpy as np
import pytest

from score_sde.checkpoints import Checkpointer
from score_sde.posthoc_ema import (
    combine,
    gamma_to_sigma_rel,
    posthoc_coefficients,
    power_ema_weight,
    profile_inner_products,
    sigma_rel_to_gamma,
)
from score_sde.runner.modes import evaluate, posthoc_ema
from score_sde.runner.restore import load_params, run_config
from score_sde.runner.setup import build
from score_sde.runner.train_loop import train
from tests.runner_helpers import tiny_toy_config

# --- a transcription of NVlabs/edm2 training/phema.py (same inputs, its formulas) -------------------


def edm2_std_to_exp(std):
    inverse = np.float64(std) ** -2
    return np.roots([1, 7, 16 - inverse, 12 - inverse]).real.max()


def edm2_exp_to_std(exp):
    return np.sqrt((exp + 1) / (exp + 2) ** 2 / (exp + 3))


def edm2_correlation(a_ofs, a_std, b_ofs, b_std):
    a_exp = np.vectorize(edm2_std_to_exp)(a_std)
    b_exp = np.vectorize(edm2_std_to_exp)(b_std)
    t_ratio = a_ofs / b_ofs
    t_exp = np.where(a_ofs < b_ofs, b_exp, -a_exp)
    t_max = np.maximum(a_ofs, b_ofs)
    return (a_exp + 1) * (b_exp + 1) * t_ratio**t_exp / ((a_exp + b_exp + 1) * t_max)


def edm2_solve(in_ofs, in_std, out_ofs, out_std):
    rv = lambda x: np.float64(x).reshape(-1, 1)
    cv = lambda x: np.float64(x).reshape(1, -1)
    A = edm2_correlation(rv(in_ofs), rv(in_std), cv(in_ofs), cv(in_std))
    B = edm2_correlation(rv(in_ofs), rv(in_std), cv(out_ofs), cv(out_std))
    X = np.linalg.solve(A, B)
    return (X / np.sum(X, axis=0))[:, 0]


# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma_rel", [0.01, 0.05, 0.1, 0.2, 0.28])
def test_sigma_rel_and_gamma_match_edm2_and_invert_each_other(sigma_rel):
    gamma = sigma_rel_to_gamma(sigma_rel)
    assert gamma == pytest.approx(edm2_std_to_exp(sigma_rel), rel=1e-12)
    assert gamma_to_sigma_rel(gamma) == pytest.approx(sigma_rel, rel=1e-10)
    assert gamma_to_sigma_rel(gamma) == pytest.approx(edm2_exp_to_std(gamma), rel=1e-12)


def test_profile_inner_products_match_edm2_and_quadrature():
    steps_a, sigmas_a = np.array([300.0, 1000.0, 1000.0]), np.array([0.05, 0.1, 0.15])
    steps_b, sigmas_b = np.array([1000.0, 400.0, 1000.0]), np.array([0.1, 0.05, 0.05])
    gammas_a = np.array([sigma_rel_to_gamma(s) for s in sigmas_a])
    gammas_b = np.array([sigma_rel_to_gamma(s) for s in sigmas_b])
    ours = profile_inner_products(steps_a, gammas_a, steps_b, gammas_b)
    np.testing.assert_allclose(ours, edm2_correlation(steps_a, sigmas_a, steps_b, sigmas_b), rtol=1e-12)
    tau = np.linspace(0.0, 1000.0, 2_000_001)
    for t_a, g_a, t_b, g_b, value in zip(steps_a, gammas_a, steps_b, gammas_b, ours):
        p_a = np.where(tau <= t_a, (g_a + 1) * tau**g_a / t_a ** (g_a + 1), 0.0)
        p_b = np.where(tau <= t_b, (g_b + 1) * tau**g_b / t_b ** (g_b + 1), 0.0)
        assert np.trapezoid(p_a * p_b, tau) == pytest.approx(value, rel=1e-4)  # trapezoid rule on 2M points


def test_posthoc_coefficients_match_edm2():
    steps = np.tile(np.arange(1, 11) * 400.0, 2)
    sigma_rels = np.repeat([0.05, 0.10], 10)
    for target_step, target_sigma in [(4000.0, 0.07), (2600.0, 0.15), (4000.0, 0.03)]:
        ours = posthoc_coefficients(steps, sigma_rels, target_step, target_sigma)
        np.testing.assert_allclose(ours, edm2_solve(steps, sigma_rels, target_step, target_sigma), atol=1e-6)
        assert ours.sum() == pytest.approx(1.0)


def test_the_tracked_ema_gives_each_step_the_profiles_weight_over_it():
    """Tracking unit vectors theta_k = e_k: after t steps, weight k is int_{k-1}^{k} p_t exactly."""
    t, sigma_rel = 60, 0.1
    gamma = sigma_rel_to_gamma(sigma_rel)
    weights = np.asarray(power_ema_weight(sigma_rel, np.arange(1, t + 1)), np.float64)
    assert weights[0] == 1.0  # the average starts at theta_1
    ema = np.zeros(t)
    for k in range(t):
        ema = ema + weights[k] * (np.eye(t)[k] - ema)
    k = np.arange(1, t + 1)
    expected = (k ** (gamma + 1) - (k - 1) ** (gamma + 1)) / t ** (gamma + 1)
    np.testing.assert_allclose(ema, expected, rtol=2e-5, atol=1e-7)  # float32 betas


def test_the_ema_weight_is_accurate_in_float32_at_any_step():
    """c_t against EDM2's 1 - beta_t computed in float64, up to 1e8 steps (1 - beta_t in float32 is 2 %
    off at 1.3M steps and 0 past 3e7)."""
    gamma = sigma_rel_to_gamma(0.05)
    for step in (2, 10, 1e4, 1.3e6, 1e7, 1e8):
        exact = 1.0 - (1.0 - 1.0 / np.float64(step)) ** (gamma + 1.0)
        assert float(power_ema_weight(0.05, step)) == pytest.approx(exact, rel=1e-5)


def test_a_profile_reconstructed_from_snapshots_matches_it_tracked_directly():
    """Two profiles (sigma_rel 0.05, 0.10) tracked on a synthetic trajectory and snapshotted every
    100 of 4000 steps reconstruct sigma_rel 0.07 at the end (and 0.15 at step 2500) tracked directly."""
    total, every, width = 4000, 100, 16
    rng = np.random.default_rng(0)
    k = np.arange(1, total + 1)[:, None] / total
    frequencies, phases = rng.uniform(1, 6, (1, width)), rng.uniform(0, 6, (1, width))
    walk = 0.1 * np.cumsum(rng.normal(size=(total, width)), axis=0) / np.sqrt(total)
    trajectory = np.sin(2 * np.pi * frequencies * k + phases) + 2 * np.sqrt(k) + walk

    def track(sigma_rel):
        weights = np.asarray(power_ema_weight(sigma_rel, np.arange(1, total + 1)), np.float64)
        ema, kept = np.zeros(width), {}
        for step in range(1, total + 1):
            ema = ema + weights[step - 1] * (trajectory[step - 1] - ema)
            kept[step] = ema
        return kept

    tracked = {sigma: track(sigma) for sigma in (0.05, 0.10, 0.07, 0.15)}
    snapshot_steps = list(range(every, total + 1, every))
    snapshots = [{"w": tracked[s][step]} for s in (0.05, 0.10) for step in snapshot_steps]
    steps, sigmas = snapshot_steps * 2, [0.05] * len(snapshot_steps) + [0.10] * len(snapshot_steps)
    for target_step, target_sigma in [(total, 0.07), (2500, 0.15)]:
        weights = posthoc_coefficients(steps, sigmas, target_step, target_sigma)
        rebuilt = combine(snapshots, weights)["w"]
        np.testing.assert_allclose(rebuilt, tracked[target_sigma][target_step], atol=1e-3)


def test_bad_post_hoc_inputs_are_refused_in_one_line():
    with pytest.raises(ValueError, match="sigma_rel=0.3 must lie in"):
        sigma_rel_to_gamma(0.3)
    with pytest.raises(ValueError, match="snapshot steps must be >= 1"):
        posthoc_coefficients([0, 10], [0.05, 0.1], 10, 0.07)
    with pytest.raises(ValueError, match="2 snapshots but 3 weights"):
        combine([{"w": 1.0}, {"w": 2.0}], [0.2, 0.3, 0.5])


def test_a_run_tracks_power_emas_and_reads_back_any_post_hoc_profile(tmp_path):
    """Training tracks config.model.power_ema_sigma_rels in every snapshot; config.eval.posthoc_sigma_rel
    reads a checkpoint back as the reconstructed profile: a tracked width comes back as that EMA itself."""
    config = tiny_toy_config(n_iters=40)
    config.training.snapshot_freq = 10
    config.model.power_ema_sigma_rels = (0.05, 0.1)
    train(config, tmp_path, progress=False)
    setup = build(config, with_data=False)
    checkpointer = Checkpointer(tmp_path)
    assert checkpointer.snapshot_steps() == [10, 20, 30, 40]
    final = checkpointer.restore(40, setup.abstract_state())
    checkpointer.close()
    assert len(final.power_emas) == 2

    def read(sigma_rel):
        config.eval.posthoc_sigma_rel = sigma_rel
        return load_params(build(config, with_data=False), tmp_path, -1)

    tracked, step, label = read(0.1)
    assert step == 40 and label == "step_40_posthoc_0.1"
    for got, want in zip(jax.tree.leaves(tracked), jax.tree.leaves(final.power_emas[1])):
        np.testing.assert_allclose(got, want, atol=1e-5 * float(np.abs(want).max()) + 1e-7)  # float32 sums
    exported = posthoc_ema(config, tmp_path, progress=False)  # config.eval.posthoc_sigma_rel is 0.1 here
    assert exported["step"] == 40 and exported["path"].endswith("posthoc_ema/sigma_rel_0.1")
    plain = run_config(exported["path"], "exported")
    assert plain.model.power_ema_sigma_rels == () and plain.eval.posthoc_sigma_rel == 0.0
    written, written_step, _ = load_params(build(plain, with_data=False), Path(exported["path"]), -1)
    assert written_step == 40
    for got, want in zip(jax.tree.leaves(written), jax.tree.leaves(tracked)):
        np.testing.assert_array_equal(got, want)
    config.eval.begin_ckpt, config.eval.end_ckpt = 4, 4  # --mode eval reads the same post-hoc EMA
    config.eval.enable_loss = config.eval.enable_bpd = config.eval.enable_sampling = False
    [evaluated] = evaluate(config, tmp_path, progress=False)
    assert evaluated["step"] == 40 and evaluated["posthoc_sigma_rel"] == 0.1
    between, _, _ = read(0.07)
    distance = lambda a, b: sum(float(np.abs(x - y).max()) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    assert 0 < distance(between, final.power_emas[0]) and 0 < distance(between, final.power_emas[1])

    for other in ((0.05,), (0.1, 0.05)):  # not what the run tracked: refused, not skipped as unusable
        config.model.power_ema_sigma_rels = other
        with pytest.raises(ValueError, match=r"holds power-function EMAs of sigma_rel \(0.05, 0.1\) and this run's"):
            read(0.0)
    config.model.power_ema_sigma_rels = ()
    with pytest.raises(ValueError, match="set config.model.power_ema_sigma_rels to the widths it was trained with"):
        read(0.07)
    with pytest.raises(ValueError, match="config.model.power_ema_sigma_rels must hold relative widths"):
        config.model.power_ema_sigma_rels = (0.5,)
        build(config, with_data=False)
