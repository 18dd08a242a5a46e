"""Calibrating the latency model: time real networks on this host and fit ``core.prediction.latency_model``.

Measurement (``core.measurement``) and prediction meet only here: the fitted model never imports a
timer, and the timers' refusals (``core.measurement.run_budget``) read the fitted model.
Runs in the CLI or the worker, never in the web server.
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict

from core.measurement.jobs import data_dir, host_fingerprint
from core.measurement.kernel_timing import KernelTiming
from core.network.profiling import profile
from core.network.scaling import ScalingError
from core.prediction.latency_model import (
    BACKBONES,
    CALIBRATION_BATCHES,
    CALIBRATION_DEPTHS,
    CALIBRATION_RESOLUTIONS,
    CALIBRATION_WIDTHS,
    DEFAULT_BUDGET_S,
    KINDS,
    MAX_CALIBRATION_MACS,
    MIN_NETWORKS,
    NETWORK_TERMS,
    REPEATS,
    TERMS,
    Calibration,
    Config,
    blocked_layout,
    calibration_key,
    calibration_path,
    check_runtime,
    default_threads,
    dispatched_ops,
    family_factors,
    fit_corrections,
    fit_kernels,
    fit_network,
    kernel_seconds,
    load_calibration,
    save_calibration,
)
from core.prediction.kernel_trees import TreeEnsemble
from core.prediction.roofline import host_device

MeasureFn = Callable[[Config, str, str, int], KernelTiming]
BUSY_CORES = 0.3  # other processes' CPU during a timing above which it is timed again
RETRIES = 2


def measure_kernels(config: Config, runtime: str, dtype: str, threads: int) -> KernelTiming:
    """Per-layer profiled times and the unprofiled total of one configuration (``core.measurement.kernel_timing``).
    With onnxruntime the first timing of a network includes its export (cached on disk after)."""
    from core.measurement.kernel_timing import kernel_timing

    cost = profile(config.backbone, config.width, config.depth, config.resolution, batch=config.batch,
                   dtype="float32" if runtime == "onnxruntime" else dtype)
    return kernel_timing(cost, runtime, dtype, threads)


def measure_ms(config: Config, runtime: str, dtype: str, threads: int) -> float:
    """Real timed runs as the Explorer's worker makes them (``core.measure_latency``); their 10th percentile.

    What the bench checks predictions against. With onnxruntime the first timing of a configuration
    includes its export (cached on disk after).
    """
    from core.measurement.latency import measure_latency

    return measure_latency(config.backbone, config.width, config.depth, config.resolution, batch=config.batch,
                           dtype=dtype, threads=threads, warmup=2, repeats=REPEATS, cap_s=60,
                           runtime=runtime).p10_ms


def calibration_configs(seed: int = 0, per_backbone: int = 6) -> list[Config]:
    """A spread of small configurations of every backbone from the calibration grid, batch 1 and 8.

    Configurations come in pairs of one network (a batch-1 and a batch-8 shape), so that a runtime that
    exports or builds once per network pays that once, and the pairs take turns across backbones, so
    that a calibration cut short by its time budget still covers every backbone.
    """
    rng = random.Random(seed)
    groups: list[list[list[Config]]] = []
    for backbone in BACKBONES:
        networks = [(w, d) for w in CALIBRATION_WIDTHS for d in CALIBRATION_DEPTHS]
        rng.shuffle(networks)
        chosen: list[list[Config]] = []
        for width, depth in networks:
            shapes = [(r, b) for r in CALIBRATION_RESOLUTIONS for b in CALIBRATION_BATCHES]
            rng.shuffle(shapes)
            fits = [Config(backbone, width, depth, r, b) for r, b in shapes
                    if profile(backbone, width, depth, r).macs * b <= MAX_CALIBRATION_MACS]
            picked = [c for c in (next((c for c in fits if c.batch == b), None) for b in CALIBRATION_BATCHES) if c]
            chosen.append(picked[:per_backbone - sum(len(group) for group in chosen)])
            if sum(len(group) for group in chosen) >= per_backbone:
                break
        groups.append(chosen)
    return [config for turn in range(max(len(chosen) for chosen in groups))
            for chosen in groups if turn < len(chosen) for config in chosen[turn]]


def host_roofline(threads: int) -> tuple[float, float]:
    """This host's (peak FLOP/s, bandwidth) at ``threads``: measured once per host and cached beside the
    calibrations, so every runtime's model and roofline use the same host (the runtimes differ in how much
    of it they reach, not in what it is)."""
    path = data_dir(create=False) / "latency_model" / (
        f"host-roofline-t{threads}-{hashlib.sha256(host_fingerprint().encode()).hexdigest()[:16]}.json")
    try:
        cached = json.loads(path.read_text())
        return float(cached["peak_flops"]), float(cached["bandwidth"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    peak_flops, bandwidth = measure_host_roofline(threads)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"peak_flops": peak_flops, "bandwidth": bandwidth, "threads": threads,
                                "host": host_fingerprint(), "measured": time.time()}))
    return peak_flops, bandwidth


def measure_host_roofline(threads: int) -> tuple[float, float]:
    """(peak FLOP/s of a large float32 matmul, bytes/s of a large copy counting read + write), best of a few."""
    import torch

    from core.measurement.host import torch_threads

    with torch_threads(threads), torch.inference_mode():
        size = 1536
        a, b = torch.randn(size, size), torch.randn(size, size)
        a @ b
        flops = max(2 * size ** 3 / _timed(lambda: a @ b) for _ in range(5))
        source = torch.empty(32 * 2 ** 20)  # 128 MiB: far beyond any cache
        target = torch.empty_like(source)
        target.copy_(source)
        bandwidth = max(2 * source.numel() * 4 / _timed(lambda: target.copy_(source)) for _ in range(5))
    return flops, bandwidth


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def calibrate(runtime: str = "torch", dtype: str = "float32", threads: int | None = None, *,
              configs: list[Config] | None = None, measure: MeasureFn = measure_kernels,
              roofline: Callable[[int], tuple[float, float]] | None = None,
              budget_s: float = DEFAULT_BUDGET_S, rounds: int = 1, force: bool = False,
              progress: Callable[[int, int], None] | None = None) -> Calibration:
    """Fit (or load from the cache) the latency model of ``runtime`` on this host; bounded by ``budget_s``.

    Every configuration is timed once (up to ``RETRIES`` times more while other processes use more than
    ``BUSY_CORES``, keeping the quietest), and again in later ``rounds`` while the budget lasts, keeping
    each one's fastest timing (its kernels with it). Timing stops once the budget is spent (after
    ``MIN_NETWORKS`` networks).
    Runs in the CLI or the worker, never in the web server: it builds and times real networks.
    """
    check_runtime(runtime, dtype)
    threads = threads or default_threads()
    key = calibration_key(runtime, dtype, threads)
    if calibration_path(key).exists() and not force:
        return load_calibration(runtime, dtype, threads)
    started = time.perf_counter()
    peak_flops, bandwidth = host_roofline(threads) if roofline is None else roofline(threads)
    lanes, block = host_device(peak_flops, bandwidth).lanes.get(dtype), blocked_layout(runtime, dtype)
    configs = calibration_configs() if configs is None else configs
    fastest: dict[int, KernelTiming] = {}
    done, total = 0, rounds * len(configs)
    for _ in range(rounds):
        for index, config in enumerate(configs):
            if time.perf_counter() - started > budget_s and len(fastest) >= MIN_NETWORKS:
                break
            timing = measure(config, runtime, dtype, threads)
            for _ in range(RETRIES):  # a busy host: again while the budget lasts, the quietest kept
                if (timing.other_load or 0.0) <= BUSY_CORES or time.perf_counter() - started > budget_s:
                    break
                timing = min(timing, measure(config, runtime, dtype, threads),
                             key=lambda one: one.other_load or 0.0)
            if index not in fastest or timing.total_ms < fastest[index].total_ms:
                fastest[index] = timing
            done += 1
            if progress is not None:
                progress(done, total)
    if len(fastest) < MIN_NETWORKS:
        raise ScalingError(f"calibration needs at least {MIN_NETWORKS} timed networks; it got {len(fastest)}")
    taken = [configs[index] for index in sorted(fastest)]
    timings = [fastest[index] for index in sorted(fastest)]
    costs = [profile(c.backbone, c.width, c.depth, c.resolution, batch=c.batch, dtype=dtype) for c in taken]
    networks = [(cost, timing.rows) for cost, timing in zip(costs, timings)]
    kernels = fit_kernels(networks, lanes, block)
    corrections = fit_corrections(networks, kernels, lanes, block)
    trees = TreeEnsemble(corrections)
    kernel_s = [sum(kernel_seconds(cost, kernels, lanes, block, trees)) for cost in costs]
    ops = [sum(dispatched_ops(row) for row in cost.rows) for cost in costs]
    network, used = fit_network(kernel_s, ops, [timing.total_ms for timing in timings])
    samples = [dict(config=asdict(config), measured_ms=timing.total_ms,
                    fitted_ms=(network[0] * seconds + network[1] * count) * 1000, used=flag,
                    profiled_ms=sum(timing.rows.values()), rows=timing.rows, other_load=timing.other_load)
               for config, timing, seconds, count, flag in zip(taken, timings, kernel_s, ops, used)]
    coefficients = {f"{kind}.{term}": value for kind in KINDS for term, value in zip(TERMS, kernels[kind])}
    coefficients.update({f"network.{term}": value for term, value in zip(NETWORK_TERMS, network)})
    calibration = Calibration(key=key, coefficients=coefficients, peak_flops=peak_flops,
                              bandwidth=bandwidth, samples=samples, seconds=time.perf_counter() - started,
                              created=time.time(), family_factors=family_factors(samples),
                              corrections=corrections)
    save_calibration(calibration)
    return calibration
