"""Wall-clock timing of jitted work, shared by the benchmarks."""

import statistics
import time

import jax


def median_time(fn, repeats: int) -> tuple[float, float, object]:
    """(median seconds of `repeats` calls after a warm-up call, warm-up seconds (compilation
    included), last result) of fn(), each call waited for with jax.block_until_ready."""
    start = time.perf_counter()
    result = jax.block_until_ready(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times), first, result
