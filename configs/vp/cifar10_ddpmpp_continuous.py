"""DDPM++ (cont.) on CIFAR-10 with the VP SDE (the reference's vp/cifar10_ddpmpp_continuous)."""

from configs.default_cifar10_configs import get_default_configs, set_ncsnpp


def get_config(num_res_blocks: int = 4, sde: str = "vpsde"):
    config = get_default_configs()
    training = config.training
    training.sde = sde
    training.continuous = True
    training.reduce_mean = True

    sampling = config.sampling
    sampling.method = "pc"
    sampling.predictor = "euler_maruyama"
    sampling.corrector = "none"
    sampling.eps = 1e-3  # the reference's run_lib: 1e-3 for VP and sub-VP

    config.data.centered = True

    set_ncsnpp(
        config,
        fir=False,
        progressive_input="none",
        num_res_blocks=num_res_blocks,
        scale_by_sigma=False,
        ema_rate=0.9999,
    )
    config.model.embedding_type = "positional"
    return config
