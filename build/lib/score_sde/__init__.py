"""score_sde: score-based generative modeling with SDEs in JAX."""

from score_sde.likelihood import bits_per_dim, log_likelihood
from score_sde.losses import ddpm_loss, dsm_loss, get_loss_fn, get_score_fn, smld_loss
from score_sde.oracle import GaussianMixture
from score_sde.sampling import decode, encode, get_sampler, sample_ode, sample_pc, sample_sde
from score_sde.sde import SDE, SDES, VESDE, VPSDE, ReverseSDE, SubVPSDE, get_sde

__all__ = [
    "SDE", "SDES", "VPSDE", "SubVPSDE", "VESDE", "ReverseSDE", "get_sde",
    "dsm_loss", "ddpm_loss", "smld_loss", "get_loss_fn", "get_score_fn",
    "GaussianMixture",
    "sample_pc", "sample_ode", "sample_sde", "encode", "decode", "get_sampler",
    "log_likelihood", "bits_per_dim",
]
