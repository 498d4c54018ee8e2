"""Accelerator figures of the CIFAR-10 NCSN++ / DDPM++ configs: training, sampling and likelihood
throughput, memory and model FLOPs utilisation, in float32 and bfloat16; prints one JSON object.

One command per figure (batch 128, on all the devices JAX sees):

  python -m benchmarks.accelerator --model ncsnpp          # NCSN++ cont., VE SDE
  python -m benchmarks.accelerator --model ddpmpp          # DDPM++ cont., VP SDE
  python -m benchmarks.accelerator --model ncsnpp --deep   # NCSN++ cont. deep (8 blocks per level)
  python -m benchmarks.accelerator --model ddpmpp --deep   # DDPM++ cont. deep
  python -m benchmarks.accelerator --model ncsnpp --deep --remat   # residual blocks rematerialised
  python -m benchmarks.accelerator --model ddpmpp --predictor reverse_diffusion --corrector langevin
  python -m benchmarks.accelerator --config configs/quickstart.py --batch 64

--model ncsnpp takes configs/ve/cifar10_ncsnpp_continuous.py, --model ddpmpp
configs/vp/cifar10_ddpmpp_continuous.py, with --deep their *_deep_continuous.py variants.

On a CPU every figure, shortened to fit well within 25 minutes on 2 cores (2 sampler steps, a
likelihood solve over [0.99, 1] in one tsit5 step):

  python -m benchmarks.accelerator --model ddpmpp --batch 8 --repeats 2 --pc-steps 2 --likelihood-eps 0.99

Options: `--dtypes float32 bfloat16` (default both; bfloat16 is `config.model.dtype = "bfloat16"`:
bfloat16 compute, float32 parameters), `--skip train network pc likelihood` leaves parts out,
`--remat` sets `config.model.remat` (recompute residual blocks in the backward pass) where the
config has that field, `--pc-steps` (default 8), `--predictor` / `--corrector` (default: the
config's), `--likelihood-tol` (rtol = atol; default: the config's eval.likelihood_rtol / atol),
`--likelihood-eps` and `--likelihood-solver` (default: `log_likelihood`'s 1e-5 and tsit5).
Each part's figures also go to stderr as soon as they are measured.

Every time is the median of `--repeats` timed calls (time.perf_counter around a call and
jax.block_until_ready) after one warm-up call, whose time is reported as `compile_s` (tracing,
compilation and one run). Untrained random weights and random uint8 images of the config's
shape: the cost of a step does not depend on them, but an adaptive likelihood solve of an
untrained network takes far fewer steps than one of a trained network, so compare its
cost per evaluation, not its `nfe`.

Fields:
  device, platform, device_count: `jax.devices()[0].device_kind`, its platform, `jax.device_count()`;
    the batch is split over all devices (data parallelism, as --mode train).
  config, model, deep, batch, dtypes, remat, repeats, parameters, skipped: what was measured
    (remat: the config's value, null where this version's config has no such field).
  results[dtype].train: the runner's own jitted train step (`make_run_steps`: loss, gradient,
    Adam update and EMA, state and batch donated), one step per dispatch, on random uint8
    images: images_per_s, step_ms, compile_s;
    flops_per_step: FLOPs of one step of the compiled program per device, as XLA counts them
      (`compiled.cost_analysis()["flops"]`: forward, backward, optimizer and EMA; with --remat the
      recomputed forward counts too, making mfu a hardware rather than a model utilisation);
    mfu: flops_per_step * steps/s / peak_flops, the device's dense peak for the dtype
      (peak_flops_source names the row and column of PEAK_FLOPS: float32 is measured against the
      peak that float32 convolutions reach at JAX's default precision, TF32 tensor cores on
      A100 / H100 / H200 and one bfloat16 pass on TPU); null, with peak_flops_source "unknown
      device kind", for a device not in the table (a CPU);
    peak_memory_bytes, peak_memory_source: `memory_stats()["peak_bytes_in_use"]` of device 0
      where the platform reports it (GPU, TPU; the process's running peak, read after this
      dtype's train step: training runs first, bfloat16 before float32, so each figure is that
      step's own peak unless an earlier one was higher), otherwise (CPU) the compiled train
      step's argument + output + temp bytes (donated arguments alias outputs: subtract
      alias_bytes for the footprint); train_step_memory: that memory analysis, always.
  results[dtype].network: one evaluation of the score network in evaluation mode (the score
    function the samplers call) on the batch: ms_per_eval, images_per_s, compile_s.
  results[dtype].pc: --pc-steps steps of the predictor-corrector loop of
    `score_sde.sampling.sample_pc` (`pc_scan`) from the prior, one jitted program, with the
    config's predictor and corrector (NCSN++ VE: reverse diffusion + Langevin, 2 network
    evaluations per step; DDPM++ VP: Euler-Maruyama, no corrector, 1): ms_per_step, ms_per_nfe
    (per network evaluation), nfe_per_step, overhead_vs_network (ms_per_nfe / ms_per_eval).
  results[dtype].likelihood: `score_sde.likelihood.bits_per_dim` (probability-flow ODE,
    Hutchinson trace, adaptive solve, uniform dequantisation) on random 8-bit images: the solve's
    settings, seconds per solve, nfe as the library reports it, ms_per_nfe = seconds / nfe (each
    evaluation is a network evaluation with its Jacobian-vector product), overhead_vs_network
    (ms_per_nfe / ms_per_eval).
"""

import argparse
import dataclasses
import inspect
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import median_time
from benchmarks.train_benchmark import load_config, random_images
from score_sde.likelihood import bits_per_dim, log_likelihood
from score_sde.ode_solvers import ODE_SOLVERS
from score_sde.parallel import to_global
from score_sde.runner.setup import Setup, build, parameter_count
from score_sde.runner.train_loop import make_run_steps
from score_sde.sampling import CORRECTORS, PREDICTORS, PredictorCorrector
from score_sde.sampling.pc import pc_scan

ROOT = Path(__file__).resolve().parents[1]
MODEL_CONFIGS = {
    ("ncsnpp", False): "configs/ve/cifar10_ncsnpp_continuous.py",
    ("ncsnpp", True): "configs/ve/cifar10_ncsnpp_deep_continuous.py",
    ("ddpmpp", False): "configs/vp/cifar10_ddpmpp_continuous.py",
    ("ddpmpp", True): "configs/vp/cifar10_ddpmpp_deep_continuous.py",
}
PARTS = ("train", "network", "pc", "likelihood")
DTYPES = ("float32", "bfloat16")

# Dense (no structured sparsity) peak FLOP/s per device, from the vendors' datasheets; the
# datasheets print the tensor-core figures with 2:4 sparsity, i.e. twice these.
#   "bfloat16": bfloat16 tensor cores / MXU.
#   "float32_default": what float32 convolutions and matmuls reach at JAX's default precision
#     (docs.jax.dev/en/latest/201/precision.html: TF32 on recent GPUs, bfloat16 on TPU).
#   "float32_highest": true float32 arithmetic (jax_default_matmul_precision="highest"); TPUs
#     publish none.
# NVIDIA H100 datasheet (nvidia.com/en-us/data-center/h100): SXM5 BF16 1,979 / TF32 989 TFLOPS
#   sparse, FP32 67; PCIe BF16 1,513 / TF32 756 sparse, FP32 51; NVL BF16 1,671 / TF32 835 sparse, FP32 60.
# NVIDIA H200 datasheet (nvidia.com/en-us/data-center/h200): SXM BF16 1,979 / TF32 989 sparse,
#   FP32 67; NVL BF16 1,671 / TF32 835 sparse, FP32 60.
# NVIDIA A100 datasheet (nvidia.com/en-us/data-center/a100), SXM4 and PCIe, 40 and 80 GB:
#   BF16 312 / TF32 156 dense, FP32 19.5.
# NVIDIA V100 datasheet (nvidia.com/en-us/data-center/v100): SXM2 FP32 15.7, PCIe FP32 14,
#   V100S PCIe 16.4; no TF32 or bfloat16 tensor cores (XLA computes bfloat16 with float32
#   arithmetic there), so all three columns are the FP32 peak.
# Google Cloud TPU system architecture (cloud.google.com/tpu/docs/v4, /v5e, /v5p), per chip:
#   v4 275, v5e 197, v5p 459 bfloat16 TFLOPS.
PEAK_COLUMNS = ("bfloat16", "float32_default", "float32_highest")
PEAK_FLOPS = (
    # (row, substrings that must all occur in the lower-cased device kind, TFLOP/s by PEAK_COLUMNS)
    ("NVIDIA H100 PCIe", ("h100", "pcie"), (756.5, 378.0, 51.2)),
    ("NVIDIA H100 NVL", ("h100", "nvl"), (835.5, 417.5, 60.0)),
    ("NVIDIA H100 SXM5", ("h100",), (989.4, 494.7, 66.9)),
    ("NVIDIA H200 NVL", ("h200", "nvl"), (835.5, 417.5, 60.0)),
    ("NVIDIA H200 SXM", ("h200",), (989.4, 494.7, 66.9)),
    ("NVIDIA A100", ("a100",), (312.0, 156.0, 19.5)),
    ("NVIDIA V100S PCIe, FP32 peak", ("v100s",), (16.4, 16.4, 16.4)),
    ("NVIDIA V100 PCIe, FP32 peak", ("v100", "pcie"), (14.0, 14.0, 14.0)),
    ("NVIDIA V100 SXM2, FP32 peak", ("v100",), (15.7, 15.7, 15.7)),
    ("TPU v4", ("tpu v4",), (275.0, 275.0, None)),
    ("TPU v5e", ("tpu v5 lite",), (197.0, 197.0, None)),
    ("TPU v5e", ("tpu v5e",), (197.0, 197.0, None)),
    ("TPU v5p", ("tpu v5",), (459.0, 459.0, None)),
)


def peak_flops(device_kind: str, dtype: str) -> tuple[int | None, str]:
    """(dense peak FLOP/s of one device for `dtype` or None, the PEAK_FLOPS row and column used)."""
    kind = device_kind.lower()
    precision = str(jax.config.jax_default_matmul_precision or "default").lower()
    column = "bfloat16"
    if dtype == "float32":
        full = precision in ("highest", "float32", "f32_f32_f32")
        column = "float32_highest" if full else "float32_default"
    for row, needles, peaks in PEAK_FLOPS:
        if all(needle in kind for needle in needles):
            tflops = peaks[PEAK_COLUMNS.index(column)]
            if tflops is None:
                return None, f"{row} publishes no {column} peak"
            return round(tflops * 1e12), f"{row}, {column} (dense)"
    return None, "unknown device kind"


def _flops(compiled) -> float | None:
    """FLOPs of a compiled program per device; `cost_analysis()` is a dict or a list of dicts
    (one per program) depending on the JAX version, or None where the backend has none."""
    analysis = compiled.cost_analysis()
    if isinstance(analysis, dict):
        analysis = [analysis]
    flops = [float(a["flops"]) for a in analysis or () if a and "flops" in a]
    return sum(flops) if flops else None


def _memory(compiled) -> dict | None:
    """The compiled program's memory analysis (bytes per device), None where the backend has none."""
    stats = compiled.memory_analysis()
    if stats is None:
        return None
    fields = ("argument", "output", "alias", "temp", "generated_code")
    memory = {f"{name}_bytes": int(getattr(stats, f"{name}_size_in_bytes", 0)) for name in fields}
    memory["argument_output_temp_bytes"] = sum(memory[f"{n}_bytes"] for n in ("argument", "output", "temp"))
    return memory


def _device_peak_bytes() -> int | None:
    stats = jax.devices()[0].memory_stats()
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def measure_train(setup: Setup, repeats: int, dtype: str) -> tuple[dict, object]:
    """The runner's train step, one step per dispatch; returns its figures and the trained params."""
    run, sharding = make_run_steps(setup)
    raw = setup.data.train_batches(0, 1)
    state = setup.init_state()

    def step():
        nonlocal state
        batches = jax.block_until_ready(to_global(raw, sharding))  # a fresh copy: the batches are donated
        start = time.perf_counter()
        state, metrics = run(state, batches)
        jax.block_until_ready((state, metrics))
        return time.perf_counter() - start

    compile_s = step()
    step_s = statistics.median(step() for _ in range(repeats))
    # `run.lower` is the donating jitted program itself; a library without it is lowered through jit
    lower = getattr(run, "lower", None) or jax.jit(run).lower
    compiled = lower(state, to_global(raw, sharding)).compile()
    flops, memory = _flops(compiled), _memory(compiled)
    device_peak = _device_peak_bytes()
    peak, source = peak_flops(jax.devices()[0].device_kind, dtype)
    batch = int(setup.config.training.batch_size)
    figures = {
        "images_per_s": batch / step_s,
        "step_ms": 1e3 * step_s,
        "compile_s": compile_s,
        "flops_per_step": flops,
        "mfu": flops / step_s / peak if flops is not None and peak is not None else None,
        "peak_flops": peak,
        "peak_flops_source": source,
    }
    if device_peak is not None:
        figures["peak_memory_bytes"] = device_peak
        figures["peak_memory_source"] = "memory_stats peak_bytes_in_use of device 0 (process peak so far)"
    else:
        figures["peak_memory_bytes"] = memory["argument_output_temp_bytes"] if memory else None
        figures["peak_memory_source"] = "compiled train step memory_analysis: argument + output + temp bytes"
    figures["train_step_memory"] = memory
    return figures, state.params


def measure_network(setup: Setup, params, batch: int, repeats: int) -> dict:
    """One evaluation of the score network (evaluation mode) on the batch."""
    rng = jax.random.PRNGKey(1)
    x = setup.sde.prior_sampling(rng, (batch, *setup.event_shape))
    t = jnp.full((batch,), 0.5 * setup.sde.T)
    evaluate = jax.jit(lambda params, x, t: setup.score_fn(params)(x, t))
    seconds, first, _ = median_time(lambda: evaluate(params, x, t), repeats)
    return {"ms_per_eval": 1e3 * seconds, "images_per_s": batch / seconds, "compile_s": first}


def measure_pc(setup: Setup, params, batch: int, repeats: int, steps: int, sampler: dict, network_ms) -> dict:
    """`steps` predictor-corrector steps (`pc_scan`, the loop of `sample_pc`) from the prior, one
    jitted program, with config.sampling's predictor and corrector unless `sampler` names others.

    The steps are those of a `steps`-step grid. `sample_pc` refuses a VP grid of at most
    beta_max (20) steps, whose DDPM chain has no valid coefficients: there the reverse-diffusion
    and Langevin updates give NaN (at the same cost per step; Euler-Maruyama's are sound), so
    the loop runs without that check.
    """
    pc = dataclasses.replace(PredictorCorrector.from_config(setup.config.sampling), **sampler)
    predictor, corrector = pc.steps()
    nfe_per_step = predictor.evals + corrector.evals * pc.n_steps_each
    shape = (batch, *setup.event_shape)

    def sample(params, rng):
        process = dataclasses.replace(setup.process(params), N=steps)
        prior_rng, loop_rng = jax.random.split(rng)
        x = process.prior_sampling(prior_rng, shape)
        return pc_scan(loop_rng, process, setup.score_fn(params), x, pc)[0]

    sample = jax.jit(sample)
    seconds, first, _ = median_time(lambda: sample(params, jax.random.PRNGKey(2)), repeats)
    nfe = steps * nfe_per_step
    return {
        "predictor": pc.predictor,
        "corrector": pc.corrector,
        "n_steps_each": pc.n_steps_each,
        "num_steps": steps,
        "nfe_per_step": nfe_per_step,
        "ms_per_step": 1e3 * seconds / steps,
        "ms_per_nfe": 1e3 * seconds / nfe if nfe else None,
        "overhead_vs_network": seconds / nfe / (network_ms / 1e3) if nfe and network_ms else None,
        "compile_s": first,
    }


def measure_likelihood(setup: Setup, params, batch: int, repeats: int, given: dict, network_ms) -> dict:
    """`bits_per_dim` (adaptive probability-flow ODE) of random 8-bit images; `given` holds
    log_likelihood's rtol, atol, eps and solver, None for the config's or the library's default."""
    evaluate = setup.config.eval
    solve = {
        "trace": str(evaluate.likelihood_trace),
        "rtol": float(evaluate.likelihood_rtol) if given["rtol"] is None else given["rtol"],
        "atol": float(evaluate.likelihood_atol) if given["atol"] is None else given["atol"],
    }
    library_defaults = inspect.signature(log_likelihood).parameters
    for name in ("eps", "solver"):
        solve[name] = library_defaults[name].default if given[name] is None else given[name]
    size, channels = setup.event_shape[0], setup.event_shape[-1]
    images = jnp.asarray(np.random.default_rng(3).integers(0, 256, (batch, size, size, channels), dtype=np.uint8))

    def bpd(params, rng, images):
        score = setup.score_fn(params, flow=True)
        return bits_per_dim(rng, setup.process(params), score, images, data_range=setup.data_range, **solve)

    program = jax.jit(bpd)
    seconds, first, (_, _, nfe) = median_time(lambda: program(params, jax.random.PRNGKey(4), images), repeats)
    nfe = int(nfe)
    return {
        **solve,
        "seconds": seconds,
        "nfe": nfe,
        "ms_per_nfe": 1e3 * seconds / nfe,
        "overhead_vs_network": seconds / nfe / (network_ms / 1e3) if network_ms else None,
        "compile_s": first,
    }


def configure(args, dtype: str):
    """The config to measure: --config or --model/--deep, with the batch, dtype and remat set."""
    config = load_config(args.config or str(ROOT / MODEL_CONFIGS[args.model, args.deep]))
    config.training.batch_size = args.batch
    config.training.n_jitted_steps = 1
    config.model.dtype = dtype
    if args.remat and "remat" in config.model:
        config.model.remat = True
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", default="ncsnpp", choices=("ncsnpp", "ddpmpp"), help="NCSN++ VE or DDPM++ VP")
    which.add_argument("--config", default="", help="a config file instead of --model")
    parser.add_argument("--deep", action="store_true", help="--model's deep config (8 residual blocks per level)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=DTYPES)
    parser.add_argument("--skip", nargs="*", default=[], choices=PARTS, help="parts to leave out")
    parser.add_argument("--remat", action="store_true", help="config.model.remat=True where the config has it")
    parser.add_argument("--pc-steps", type=int, default=8, help="predictor-corrector steps of the timed program")
    parser.add_argument("--predictor", default=None, choices=PREDICTORS.names(), help="default: the config's")
    parser.add_argument("--corrector", default=None, choices=CORRECTORS.names(), help="default: the config's")
    parser.add_argument("--likelihood-tol", type=float, default=None, help="rtol = atol (default: the config's)")
    parser.add_argument("--likelihood-eps", type=float, default=None, help="start time (default: the library's)")
    parser.add_argument("--likelihood-solver", default=None, choices=ODE_SOLVERS.names(), help="an adaptive solver")
    args = parser.parse_args()
    if args.config and args.deep:
        parser.error("--deep selects a --model config; with --config name the deep config file instead")

    sampler = {k: v for k, v in (("predictor", args.predictor), ("corrector", args.corrector)) if v is not None}
    results = {dtype: {} for dtype in args.dtypes}
    setups, params = {}, None

    def done(dtype: str, part: str, figures: dict) -> None:
        """Keeps a part's figures and reports them on stderr at once (a CPU run takes long)."""
        results[dtype][part] = figures
        print(f"{dtype} {part}: {json.dumps(figures)}", file=sys.stderr, flush=True)

    for dtype in args.dtypes:
        config = configure(args, dtype)
        data = random_images(config, max(256, args.batch)) if "train" not in args.skip else None
        setups[dtype] = build(config, data=data, with_data=data is not None)
    if "train" not in args.skip:
        # bfloat16 first: a running device peak read after each step is then that step's own
        for dtype in sorted(args.dtypes, key=lambda dtype: dtype == "float32"):
            figures, params = measure_train(setups[dtype], args.repeats, dtype)
            done(dtype, "train", figures)
    for dtype, setup in setups.items():
        if params is None:  # float32 parameters whatever the compute dtype
            params = setup.init_state().params
        if "network" not in args.skip:
            done(dtype, "network", measure_network(setup, params, args.batch, args.repeats))
        network_ms = results[dtype].get("network", {}).get("ms_per_eval")
        if "pc" not in args.skip:
            done(dtype, "pc", measure_pc(setup, params, args.batch, args.repeats, args.pc_steps, sampler, network_ms))
        if "likelihood" not in args.skip:
            solve = {
                "rtol": args.likelihood_tol,
                "atol": args.likelihood_tol,
                "eps": args.likelihood_eps,
                "solver": args.likelihood_solver,
            }
            figures = measure_likelihood(setup, params, args.batch, args.repeats, solve, network_ms)
            done(dtype, "likelihood", figures)
    config = setups[args.dtypes[0]].config
    device = jax.devices()[0]
    print(
        json.dumps(
            {
                "device": device.device_kind,
                "platform": device.platform,
                "device_count": jax.device_count(),
                "config": args.config or MODEL_CONFIGS[args.model, args.deep],
                "model": None if args.config else args.model,
                "deep": None if args.config else args.deep,
                "batch": args.batch,
                "dtypes": args.dtypes,
                "remat": bool(config.model.remat) if "remat" in config.model else None,
                "repeats": args.repeats,
                "parameters": parameter_count(params),
                "skipped": [part for part in PARTS if part in args.skip],
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
