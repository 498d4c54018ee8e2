"""Fashion-MNIST recipes (28x28 gray, 60,000 training and 10,000 test images, 10 classes).

`on_cpu` moves a digits recipe (configs/quickstart.py, configs/{edm,flow,vdm}/digits.py) to
Fashion-MNIST at a size that trains in about 15 minutes on a 2-core CPU (its evaluation adds about
10); `full_size` moves a recipe's CIFAR-10 config (its paper's small-image settings) to
Fashion-MNIST for a GPU.
Both need the data: apt-get install dataset-fashion-mnist, or the four IDX files in a folder given
as --config.data.path.
"""

FASHION_SIZE = 28


def _fashion_mnist_data(config):
    data = config.data
    data.dataset = "fashion_mnist"
    data.image_size = FASHION_SIZE
    data.num_channels = 1
    data.centered = True
    return config


def on_cpu(config):
    """A digits recipe on Fashion-MNIST: its network (nf 16, 28 -> 14 -> 7) and optimiser, 1,200
    steps of 64 images (1.3 epochs, about 0.6 s a step on 2 cores) with left-right flips; its
    sampler, 100 samples scored by FD-fashion, and the bits/dim of 50 test images in its final
    evaluation."""
    config = _fashion_mnist_data(config)
    config.data.random_flip = True  # shirts, shoes and bags are mirror-symmetric classes
    training = config.training
    training.n_iters = 1200
    training.snapshot_freq = 600
    training.snapshot_freq_for_preemption = 300
    training.eval_freq = 300
    config.eval.num_bpd_examples = 50  # of the 10,000 test images (an adaptive ODE solve: minutes on a CPU)
    config.eval.batch_size = 50
    return config


def full_size(config):
    """A recipe's CIFAR-10 config on Fashion-MNIST: its network, optimiser, batch, EMA and sampler.

    What differs from the CIFAR-10 settings: one channel at 28 x 28; a U-Net with four resolutions
    keeps its first three (28, 14, 7: 7 does not halve), attention at 16 x 16 moves to 14 x 14; the
    final evaluation scores 10,000 samples by FD-fashion and the whole test set's bits/dim.
    """
    config = _fashion_mnist_data(config)
    model = config.model
    if len(model.ch_mult) > 3:
        model.ch_mult = tuple(model.ch_mult)[:3]
    model.attn_resolutions = tuple(14 if r == 16 else r for r in model.attn_resolutions)
    config.training.final_eval = True
    evaluation = config.eval
    evaluation.enable_sampling = True
    evaluation.num_samples = 10000
    evaluation.enable_bpd = True
    evaluation.num_bpd_examples = 0  # the whole test set
    return config
