"""Frechet distance, Inception Score and KID, with feature statistics streamed over batches.

FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2)) (Heusel et al. 2017), computed in
float64 on the host through the symmetric form tr((S1^(1/2) S2 S1^(1/2))^(1/2)), whose
eigenvalues are those of S1 S2: no complex round-off, agreeing with scipy's `sqrtm`.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from score_sde.files import write_npz_atomic

Array = jax.Array


def sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (float64), by
    eigendecomposition; round-off negative eigenvalues are clipped to 0."""
    matrix = np.asarray(matrix, np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2): means (D,), covariances (D, D)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(
            f"frechet_distance needs means (D,) and covariances (D, D) of one D; got {mu1.shape}, "
            f"{sigma1.shape}, {mu2.shape}, {sigma2.shape}"
        )
    root1 = sqrtm_psd(sigma1)
    eigenvalues = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    trace_sqrt = np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


# ---- streaming mean and covariance (Chan et al.'s pairwise update, on device) ----


def init_statistics(dim: int) -> dict:
    """Empty running statistics of dim-dimensional features: count, mean (D,), scatter (D, D)."""
    return {
        "count": jnp.zeros((), jnp.float32),
        "mean": jnp.zeros((dim,), jnp.float32),
        "scatter": jnp.zeros((dim, dim), jnp.float32),
    }


@jax.jit
def update_statistics(stats: dict, features: Array) -> dict:
    """Adds a batch of features (B, D): the batch's own mean and centred scatter are merged with
    the running ones, which stays accurate in float32 over any number of batches."""
    features = jnp.asarray(features, jnp.float32)
    n_b = jnp.float32(features.shape[0])
    mean_b = jnp.mean(features, axis=0)
    centred = features - mean_b
    n = stats["count"]
    total = n + n_b
    delta = mean_b - stats["mean"]
    return {
        "count": total,
        "mean": stats["mean"] + delta * (n_b / total),
        "scatter": stats["scatter"] + centred.T @ centred + jnp.outer(delta, delta) * (n * n_b / total),
    }


def finalize_statistics(stats: dict) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), unbiased covariance (D, D)) as float64 numpy, as numpy.cov computes them."""
    count = float(stats["count"])
    if count < 2:
        raise ValueError(f"feature statistics need at least 2 examples; got {count:g}")
    return np.asarray(stats["mean"], np.float64), np.asarray(stats["scatter"], np.float64) / (count - 1)


def save_statistics(path, mu: np.ndarray, sigma: np.ndarray, **extra) -> None:
    """The standard `.npz` of reference statistics (keys mu, sigma, as pytorch-fid writes them)."""
    write_npz_atomic(Path(path), mu=mu, sigma=sigma, **extra)


def load_statistics(path) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) from an `.npz` with keys mu and sigma."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"reference statistics {str(path)!r} not found (compute them with --mode fid_stats)")
    with np.load(path) as data:
        if "mu" not in data or "sigma" not in data:
            raise ValueError(f"{path}: reference statistics need arrays 'mu' and 'sigma'; found {sorted(data.files)}")
        return data["mu"].astype(np.float64), data["sigma"].astype(np.float64)


# ---- Inception Score, streamed over a known number of examples in splits ----


def init_inception_score(num_classes: int, num_splits: int = 10) -> dict:
    """Per split: count, sum of p(y|x) (num_classes,), and sum of sum_y p log p."""
    return {
        "count": jnp.zeros((num_splits,)),
        "p_sum": jnp.zeros((num_splits, num_classes)),
        "neg_entropy_sum": jnp.zeros((num_splits,)),
    }


@jax.jit
def update_inception_score(state: dict, logits: Array, split: Array) -> dict:
    """Adds examples with logits (B, K) to their splits (B,) (e.g. index * num_splits // total)."""
    log_p = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32), axis=-1)
    p = jnp.exp(log_p)
    one_hot = jax.nn.one_hot(split, state["count"].shape[0])
    return {
        "count": state["count"] + one_hot.sum(0),
        "p_sum": state["p_sum"] + one_hot.T @ p,
        "neg_entropy_sum": state["neg_entropy_sum"] + one_hot.T @ jnp.sum(p * log_p, -1),
    }


def finalize_inception_score(state: dict) -> tuple[float, float]:
    """(mean, std) over splits of exp(E_x KL(p(y|x) || p(y))), where E_x KL = E_x sum p log p -
    sum p(y) log p(y) with p(y) the split's mean prediction."""
    count = np.asarray(state["count"], np.float64)
    if np.any(count == 0):
        raise ValueError("every Inception-Score split needs examples")
    marginal = np.asarray(state["p_sum"], np.float64) / count[:, None]
    marginal_neg_entropy = np.sum(marginal * np.log(np.clip(marginal, 1e-30, None)), -1)
    scores = np.exp(np.asarray(state["neg_entropy_sum"], np.float64) / count - marginal_neg_entropy)
    return float(scores.mean()), float(scores.std())


# ---- Kernel Inception Distance ----


def _polynomial_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / D + 1)^3 (Binkowski et al. 2018)."""
    dim = x.shape[1]
    k_xx, k_yy, k_xy = ((a @ b.T / dim + 1.0) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    return float(
        (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
        + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
        - 2.0 * k_xy.mean()
    )


def kernel_inception_distance(
    features1, features2, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """(mean, std) of the unbiased polynomial-kernel MMD^2 over random subsets of both feature
    sets (N, D) (subset size capped by the smaller set), as in the KID paper and torch-fidelity."""
    x, y = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    size = min(subset_size, len(x), len(y))
    if size < 2:
        raise ValueError(f"KID needs at least 2 features in each set; got {len(x)} and {len(y)}")
    rng = np.random.default_rng(seed)
    values = [
        _polynomial_mmd(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)])
        for _ in range(num_subsets)
    ]
    return float(np.mean(values)), float(np.std(values))
