"""NCSN++ (cont.) on CIFAR-10 with the VE SDE (the reference's ve/cifar10_ncsnpp_continuous)."""

from configs.default_cifar10_configs import get_default_configs, set_ncsnpp


def get_config(num_res_blocks: int = 4):
    config = get_default_configs()
    training = config.training
    training.sde = "vesde"
    training.continuous = True

    sampling = config.sampling
    sampling.method = "pc"
    sampling.predictor = "reverse_diffusion"
    sampling.corrector = "langevin"
    sampling.eps = 1e-5  # the reference's run_lib: 1e-5 for VE

    set_ncsnpp(
        config,
        fir=True,
        progressive_input="residual",
        num_res_blocks=num_res_blocks,
        scale_by_sigma=True,
        ema_rate=0.999,
    )
    return config
