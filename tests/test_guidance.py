import jax
import jax.numpy as jnp
import numpy as np
import pytest

from score_sde.guidance import GuidanceInterval, autoguided_score, classifier_free_guided_score, classifier_guided_score
from score_sde.oracle import GaussianMixture, example_mixture
from score_sde.sampling import sample_dpm_solver, sample_ode
from tests.helpers import ALL_SDES, SDE_IDS, assert_matches_mixture


@pytest.mark.parametrize(
    "sde", [ALL_SDES[0]] + [pytest.param(s, marks=pytest.mark.slow) for s in ALL_SDES[1:]], ids=SDE_IDS
)
def test_exact_classifier_guidance_is_the_conditional_score(sde):
    """Bayes: grad log p_t(x) + grad log p_t(k | x) = grad log p_t(x | k)."""
    oracle = example_mixture(sde)
    x = jax.random.normal(jax.random.PRNGKey(0), (12, 2)) * 2
    t = jnp.linspace(0.01, 1.0, 12)
    labels = jnp.arange(12) % 3
    guided = classifier_guided_score(oracle.score, oracle.log_responsibilities, labels)(x, t)
    expected = jnp.stack([oracle.component(int(k)).score(x[i : i + 1], t[i : i + 1])[0] for i, k in enumerate(labels)])
    np.testing.assert_allclose(guided, expected, rtol=1e-4, atol=1e-4)


def test_guided_samples_land_in_the_requested_component():
    sde = ALL_SDES[0]
    oracle = example_mixture(sde)
    n, k = 10000, 2
    labels = jnp.full((n,), k)
    guided = classifier_guided_score(oracle.score, oracle.log_responsibilities, labels, scale=1.0)
    x, _ = sample_ode(jax.random.PRNGKey(0), sde, guided, (n, 2), denoise=False)
    assert_matches_mixture(x, oracle.component(k))  # the whole component-k Gaussian, not only its mass
    # scale 0 is unguided: the requested component keeps its prior weight 0.2
    unguided = classifier_guided_score(oracle.score, oracle.log_responsibilities, labels, scale=0.0)
    x0, _ = sample_dpm_solver(jax.random.PRNGKey(0), sde, unguided, (n, 2), num_steps=50, denoise=False)
    rate = float(jnp.mean(oracle.responsibilities(x0, jnp.zeros(n))[:, k]))
    assert abs(rate - 0.2) < 4.5 * np.sqrt(0.2 * 0.8 / n)
    # stronger guidance concentrates more mass on the component than no guidance
    strong = classifier_guided_score(oracle.score, oracle.log_responsibilities, labels[:2000], scale=3.0)
    x3, _ = sample_dpm_solver(jax.random.PRNGKey(1), sde, strong, (2000, 2), num_steps=50, denoise=False)
    assert float(jnp.mean(oracle.responsibilities(x3, jnp.zeros(2000))[:, k])) > 0.99


def test_classifier_free_guidance_combines_conditional_and_unconditional_scores():
    sde = ALL_SDES[2]
    oracle = example_mixture(sde)
    null = 3

    def conditional_score(x, t, labels):  # the exact scores: components 0..2, and the mixture for null
        per_class = jnp.stack([oracle.component(k).score(x, t) for k in range(3)] + [oracle.score(x, t)], axis=1)
        return jnp.take_along_axis(per_class, labels[:, None, None], axis=1)[:, 0]

    x = jax.random.normal(jax.random.PRNGKey(0), (6, 2))
    t = jnp.full((6,), 0.3)
    labels = jnp.array([0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(
        classifier_free_guided_score(conditional_score, labels, null, 0.0)(x, t), conditional_score(x, t, labels)
    )
    w = 2.5
    expected = (1 + w) * conditional_score(x, t, labels) - w * oracle.score(x, t)
    np.testing.assert_allclose(
        classifier_free_guided_score(conditional_score, labels, null, w)(x, t), expected, rtol=1e-6
    )
    # with exact scores, (1 + w) s_c - w s_u = s_u + (1 + w) grad log p(c | x): CFG with weight w is
    # classifier guidance with scale 1 + w
    cg = classifier_guided_score(oracle.score, oracle.log_responsibilities, labels, scale=1 + w)(x, t)
    np.testing.assert_allclose(
        classifier_free_guided_score(conditional_score, labels, null, w)(x, t), cg, rtol=1e-4, atol=1e-4
    )


def _weak_mixture(oracle):
    """A weaker model of the same data: the mixture with every covariance doubled."""
    return GaussianMixture(oracle.process, oracle.weights, oracle.means, 2.0 * oracle.covariances)


def test_autoguidance_is_edm2s_guided_denoiser_of_the_exact_models():
    """With exact denoisers of a model and of a weaker one, the autoguided score is the score of EDM2's
    D_g = D_weak + g (D - D_weak), g = 1 + w (their guided denoiser, mapped to a score by a and s)."""
    process = ALL_SDES[0]
    oracle = example_mixture(process)
    weak = _weak_mixture(oracle)
    x = jax.random.normal(jax.random.PRNGKey(1), (16, 2)) * 2
    t = jnp.linspace(0.05, 1.0, 16)
    a, s = (v[:, None] for v in process.marginal_coefficients(t))
    for w in (0.0, 0.5, 2.0):
        guided_denoiser = weak.denoise(x, t) + (1.0 + w) * (oracle.denoise(x, t) - weak.denoise(x, t))
        expected = (a * guided_denoiser - x) / s**2
        np.testing.assert_allclose(autoguided_score(oracle.score, weak.score, w)(x, t), expected, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(autoguided_score(oracle.score, oracle.score, 3.0)(x, t), oracle.score(x, t), atol=1e-5)


def test_a_guidance_interval_guides_only_at_its_noise_levels():
    """Inside [sigma_min, sigma_max] of sigma~ = s / a the guided score, outside it the unguided one,
    for autoguidance and classifier-free guidance alike."""
    process = ALL_SDES[0]
    oracle = example_mixture(process)
    weak = _weak_mixture(oracle)
    t = jnp.linspace(0.02, 1.0, 40)
    x = jax.random.normal(jax.random.PRNGKey(2), (40, 2))
    sigma = np.exp(-0.5 * np.asarray(process.log_snr(t)))
    interval = GuidanceInterval(process, 0.3, 2.0)
    inside = (sigma >= 0.3) & (sigma <= 2.0)
    assert 0 < inside.sum() < len(t)
    everywhere = autoguided_score(oracle.score, weak.score, 1.5)(x, t)
    limited = autoguided_score(oracle.score, weak.score, 1.5, interval)(x, t)
    np.testing.assert_allclose(limited[inside], everywhere[inside], rtol=1e-6)
    np.testing.assert_allclose(limited[~inside], oracle.score(x, t)[~inside], rtol=1e-6)

    def conditional(x, t, labels):  # the component's score for a label, the mixture's for the null label 3
        by_component = jnp.stack([oracle.component(k).score(x, t) for k in range(3)] + [oracle.score(x, t)])
        return by_component[labels, jnp.arange(len(labels))]

    labels = jnp.arange(40) % 3
    cfg = classifier_free_guided_score(conditional, labels, 3, 2.0, interval)(x, t)
    np.testing.assert_allclose(cfg[~inside], conditional(x, t, labels)[~inside], rtol=1e-6)
    full = classifier_free_guided_score(conditional, labels, 3, 2.0)(x, t)
    np.testing.assert_allclose(cfg[inside], full[inside], rtol=1e-6)


@pytest.mark.slow  # two 4000-sample solves (about 15 s): out of the 10-minute default tier
def test_autoguided_samples_concentrate_on_the_modes():
    """Guiding by the broader model sharpens the components: samples of every sampler that takes a
    score lie closer to their component's mean than the model's own samples."""
    process = ALL_SDES[0]
    oracle = example_mixture(process)
    guided = autoguided_score(oracle.score, _weak_mixture(oracle).score, 1.0)

    def spread(x):
        nearest = jnp.argmax(oracle.responsibilities(x, jnp.zeros(len(x))), axis=1)
        return float(jnp.mean(jnp.sum((x - oracle.means[nearest]) ** 2, axis=1)))

    plain, _ = sample_dpm_solver(jax.random.PRNGKey(3), process, oracle.score, (4000, 2), num_steps=30, denoise=False)
    sharpened, _ = sample_dpm_solver(jax.random.PRNGKey(3), process, guided, (4000, 2), num_steps=30, denoise=False)
    assert spread(sharpened) < 0.8 * spread(plain)
