"""Forward processes: Gaussian paths x_t = a(t) x_0 + s(t) z with their SDEs, by name.

| name (`config.training.sde`) | process |
| --- | --- |
| `vpsde`, `subvpsde`, `vesde` | `VPSDE`, `SubVPSDE`, `VESDE` (Song et al. 2021, the reference's) |
| `cosine_vp` | `CosineVPSDE` (Nichol & Dhariwal 2021) |
| `linear_flow` | `LinearFlow` (rectified flow, conditional flow matching) |
| `edm` | `EDMPath` (Karras et al. 2022) |
| `trigflow` | `TrigFlowPath` (Lu & Song 2025; sCM) |
| `learned_vp` | `LearnedVPPath`: VDM's learned monotone schedule (Kingma et al. 2021) |

`GaussianPath` builds any other path from a(t) and s(t), or from its log-SNR. `chain_of(process)`
is the N-step chain predictor-corrector sampling steps along (the reference's DDPM and SMLD
chains for VP and VE, exact Gaussian transitions for every other path).
"""

from score_sde.sde.base import SDE, SDES, ReverseSDE, batch_broadcast, check_time, get_sde, posterior_step
from score_sde.sde.chain import Chain, chain_of, register_chain
from score_sde.sde.learned import LearnedVPPath, init_schedule, schedule_gamma
from score_sde.sde.paths import CosineVPSDE, EDMPath, GaussianPath, LinearFlow, TrigFlowPath
from score_sde.sde.reference import VESDE, VPSDE, SubVPSDE
from score_sde.sde.schedules import SCHEDULES, get_timesteps

__all__ = [
    "SDE",
    "SDES",
    "ReverseSDE",
    "get_sde",
    "Chain",
    "chain_of",
    "register_chain",
    "batch_broadcast",
    "check_time",
    "posterior_step",
    "VPSDE",
    "SubVPSDE",
    "VESDE",
    "CosineVPSDE",
    "LinearFlow",
    "EDMPath",
    "TrigFlowPath",
    "GaussianPath",
    "LearnedVPPath",
    "init_schedule",
    "schedule_gamma",
    "SCHEDULES",
    "get_timesteps",
]
