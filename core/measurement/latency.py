"""Real latency: build the module, run timed forwards, report median and spread.

Every run has one wall-clock cap that covers building, warm-up and timing. Before
anything is allocated, the run's memory is estimated from the analytic profile and
its time from the engine's MACs and a measured throughput of this host for the
same family; a run that cannot fit is refused with what to lower. Runs in one
process are serialized by one lock, so two callers never time each other's work.
The web app never calls this directly: ``core.measurement.worker`` runs it in another process.

Two runtimes: ``torch`` (eager, fp32/bf16, optionally channels_last) and ``onnxruntime``
(fp32, and int8 by static quantization; export and quantization in ``core.measurement.onnx_runtime``,
cached on disk, counted against the cap).
"""
from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch

from core.measurement.host import TORCH_DTYPES, cpu_jiffies, other_load, torch_threads
from core.measurement.job_settings import (
    CPU_DTYPES,
    MAX_BATCH,
    MAX_CAP_S,
    MAX_REPEATS,
    MAX_WARMUP,
    check_threads,
    default_cap_s,
    number,
)
from core.measurement.memory import child_memory_limit_mb, rss_mb
from core.measurement.quality import percentile
from core.measurement.run_budget import (
    MIN_TIMED_RUNS,
    memory_refusal,
    needed_bytes,
    predicted_forward_s,
    seconds,
    time_refusal,
)
from core.network.architecture import Architecture
from core.network.building import build_model
from core.network.counting import Profile
from core.network.families import ARCHITECTURES, resolve
from core.network.profiling import profile
from core.network.scaling import ScalingError, stage_source

DEFAULT_CAP_S = default_cap_s()
RUNTIMES = ("torch", "onnxruntime")
_RUN_LOCK = threading.Lock()


class LatencyError(ScalingError):
    """A latency run the engine refuses or stops (memory, time, device, dtype); says what to change."""


@dataclass(frozen=True)
class LatencyResult:
    """Milliseconds per batch, over ``runs`` timed forwards after ``warmup`` untimed ones.

    ``other_load_cores`` is how many cores' worth of CPU other processes used while the
    runs were timed (None where the OS does not say); ``host_busy`` flags a noisy figure.
    With onnxruntime: the ONNX file's size (and the fp32 file's, for int8), what exporting and
    quantizing took when the file was made, whether this run found it cached, and a note.
    """

    backbone: str  # a built-in's name, or a loaded spec's or per-stage network's (``custom-…``, ``…-stages-…``)
    width: float
    depth: float
    resolution: int
    device: str
    batch: int
    dtype: str
    channels_last: bool
    threads: int
    warmup: int
    runs: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    images_per_s: float
    estimated_memory_mb: float
    torch_version: str
    wall_s: float = 0.0
    other_load_cores: float | None = None
    host_busy: bool = False
    runtime: str = "torch"
    onnxruntime_version: str | None = None
    model_file_bytes: int | None = None
    fp32_file_bytes: int | None = None
    export_s: float | None = None
    quantize_s: float | None = None
    prepared_cached: bool | None = None
    note: str | None = None
    stage_width: tuple[float, ...] | None = None  # per-stage multipliers asked for (None: none, or all ones)
    stage_depth: tuple[float, ...] | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def available_devices(runtime: str = "torch") -> list[str]:
    """Devices this machine can time on with ``runtime``: cpu always, cuda and mps where present."""
    if runtime == "onnxruntime":
        from core.measurement import onnx_runtime
        return onnx_runtime.available_devices()
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def supported_dtypes(device: str, runtime: str = "torch") -> list[str]:
    """torch: float16 only where kernels exist for it, bfloat16 on CPU and recent GPUs; onnxruntime: fp32, int8."""
    if runtime == "onnxruntime":
        from core.measurement import onnx_runtime
        return onnx_runtime.supported_dtypes(device)
    return list(CPU_DTYPES["torch"]) if device == "cpu" else ["float32", "float16", "bfloat16"]


def estimate_memory_bytes(backbone: str | Architecture, width: float | None, depth: float | None,
                          resolution: int | None, batch: int = 1, dtype: str = "float32",
                          runtime: str = "torch", task: str = "classification", head: str | None = None,
                          stage_width=None, stage_depth=None) -> int:
    """The peak resident memory of a run in this process: what it holds now plus what the run adds
    (``core.measurement.memory``, fitted to measured peaks). An estimate, not a measurement."""
    onnx = runtime == "onnxruntime"
    cost = profile(backbone, width, depth, resolution, batch=batch, dtype="float32" if onnx else dtype,
                   task=task, head=head, stage_width=stage_width, stage_depth=stage_depth)
    return needed_bytes(cost, runtime, dtype, rss_mb() or 0.0)


@dataclass(frozen=True)
class HostSpeed:
    """This host's measured speed for one family and runtime: forward MACs per second, weights made ready
    per second (built; with onnxruntime also exported and quantized) and, for int8, the seconds that
    quantization's calibration passes take per MAC of one forward pass.
    """

    macs_per_s: float
    params_per_s: float
    calibration_s_per_mac: float = 0.0


_SPEEDS: dict[tuple, HostSpeed] = {}
# A loaded spec's speed is its commonest block's built-in family's: that family's network is what calibrates
SPEED_STAND_INS = {"separable": "mobilenet_v1", "inverted_residual": "mobilenet_v2", "basic": "resnet18",
                   "bottleneck": "resnet50"}


def speed_base(base: str) -> str:
    """The built-in base whose measured speed stands for ``base``'s (``Profile.base``).

    A built-in is its own; a per-stage network of a built-in (``<base>-stages-<digest>``) is its built-in's;
    a loaded spec (``custom-<digest>``), or a per-stage network of one, is the built-in family of the block
    kind it has most of: calibrating on the custom network itself would time an unbounded network before
    the run's cap starts, once for every spec a worker meets.
    """
    if base in ARCHITECTURES:
        return base
    built_in = stage_source(base)[0]
    if built_in in ARCHITECTURES:
        return built_in
    try:
        arch = resolve(base)[0]
    except KeyError:  # not registered in this process (the registry is bounded): any family's speed will do
        return SPEED_STAND_INS["inverted_residual"]
    blocks: dict[str, float] = {}
    for stage in arch.stages:
        blocks[stage.block] = blocks.get(stage.block, 0.0) + stage.repeats * stage.depth
    return SPEED_STAND_INS[max(blocks, key=blocks.get)]


def host_speed(base: str, device: str, dtype: str, threads: int, runtime: str = "torch") -> HostSpeed:
    """This host's speed for a family and runtime: calibrated once per process, raised by every faster real run.

    Calibration times the unscaled family member at its own resolution; larger inputs run at the
    same or better efficiency, so estimates for them err long (safe for refusing). With onnxruntime
    it makes (or finds in the disk cache, with the times recorded when they were made) that member's
    ONNX file, so export and quantization speed are known too.
    """
    base = speed_base(base)
    key = (base, device, dtype, threads, runtime)
    if key not in _SPEEDS:
        calibrate = _calibrate_onnx if runtime == "onnxruntime" else _calibrate
        _SPEEDS[key] = calibrate(base, device, dtype, threads)
    return _SPEEDS[key]


def _remember_speed(cost: Profile, device: str, dtype: str, threads: int, runtime: str, median_ms: float) -> None:
    if cost.base not in ARCHITECTURES:  # a custom or per-stage network's speed is not its stand-in family's
        return
    key = (cost.base, device, dtype, threads, runtime)
    seen = cost.macs * cost.batch / (median_ms / 1000)
    if key in _SPEEDS and seen > _SPEEDS[key].macs_per_s:
        _SPEEDS[key] = replace(_SPEEDS[key], macs_per_s=seen)


def _calibrate_onnx(base: str, device: str, dtype: str, threads: int) -> HostSpeed:
    from core.measurement import onnx_runtime

    cost = profile(base)
    with torch_threads(threads):
        prepared = onnx_runtime.prepare(cost, dtype)
    session = onnx_runtime.session(prepared.path, device, threads, 1)
    feed = onnx_runtime.random_feed(1, cost.resolution)
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        session.run(None, feed)
        timings.append(time.perf_counter() - start)
    making = prepared.export_s + prepared.quantize_s - prepared.calibration_s
    return HostSpeed(macs_per_s=cost.macs / min(timings[1:]), params_per_s=cost.params / max(making, 1e-3),
                     calibration_s_per_mac=prepared.calibration_s / cost.macs)


def _calibrate(base: str, device: str, dtype: str, threads: int) -> HostSpeed:
    with torch_threads(threads):
        started = time.perf_counter()
        model = build_model(base).to(device=device, dtype=TORCH_DTYPES[dtype])
        built = time.perf_counter() - started
        cost = profile(base)
        images = torch.randn(1, 3, cost.resolution, cost.resolution, device=device, dtype=TORCH_DTYPES[dtype])
        timings = []
        with torch.inference_mode():
            for _ in range(3):
                start = time.perf_counter()
                model(images)
                _synchronize(device)
                timings.append(time.perf_counter() - start)
    return HostSpeed(macs_per_s=cost.macs / min(timings[1:]), params_per_s=cost.params / max(built, 1e-3))


def estimate_seconds(cost: Profile, speed: HostSpeed) -> tuple[float, float]:
    """(seconds to make ready, seconds per forward pass) of a configuration on this host: an estimate.

    Making ready is building, and with onnxruntime exporting and quantizing (calibration passes, at batch 1,
    included).
    """
    ready = cost.params / speed.params_per_s + cost.macs * speed.calibration_s_per_mac  # calibrated at batch 1
    return ready, cost.macs * cost.batch / speed.macs_per_s


def _synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def check_settings(device: str, batch: int, dtype: str, threads: int | None, warmup: int,
                   repeats: int, cap_s: float, runtime: str = "torch", channels_last: bool = False) -> None:
    """Raise ``LatencyError`` naming what to change for settings no run can use."""
    if runtime not in RUNTIMES:
        raise LatencyError(f"runtime {runtime!r} is not one of {', '.join(RUNTIMES)}")
    if dtype == "int8" and runtime == "torch":
        raise LatencyError("int8 is timed with runtime onnxruntime (static quantization): pick onnxruntime, "
                           f"or {' or '.join(supported_dtypes(device))} with torch")
    if device not in available_devices(runtime):
        if runtime == "onnxruntime" and device in available_devices():
            missing = " (onnxruntime-gpu is not installed)" if device == "cuda" else ""
            raise LatencyError(f"onnxruntime here has no execution provider for {device}{missing}: use device cpu, "
                               f"or runtime torch for {device}")
        raise LatencyError(f"device {device!r} is not available here: use one of "
                           f"{', '.join(available_devices(runtime))}")
    if dtype not in supported_dtypes(device, runtime):
        choices = " or ".join(supported_dtypes(device, runtime))
        other = " (or runtime torch for it)" if runtime == "onnxruntime" and dtype in supported_dtypes(device) else ""
        raise LatencyError(f"dtype {dtype!r} is not supported on {device} with {runtime}: use {choices}{other}")
    if channels_last and runtime == "onnxruntime":
        raise LatencyError("channels_last applies to runtime torch only (onnxruntime picks its own layout): "
                           "leave it off")
    try:
        number("batch", batch, 1, MAX_BATCH, whole=True)
        if threads is not None:
            check_threads(threads)
        number("warmup", warmup, 0, MAX_WARMUP, whole=True)
        number("repeats", repeats, 1, MAX_REPEATS, whole=True)
        number("the time cap (cap_s)", cap_s, 0.001, MAX_CAP_S)
    except ScalingError as error:
        raise LatencyError(str(error)) from None
    if not isinstance(channels_last, bool):
        raise LatencyError("channels_last must be True or False")


def measure_latency(backbone: str | Architecture, width: float | None = None, depth: float | None = None,
                    resolution: int | None = None, device: str = "cpu", batch: int = 1,
                    dtype: str = "float32", channels_last: bool = False, warmup: int = 3,
                    repeats: int = 20, cap_s: float | None = None, threads: int | None = None,
                    memory_limit_mb: int | None = None,
                    progress: Callable[[int, int], None] | None = None, task: str = "classification",
                    head: str | None = None, runtime: str = "torch", stage_width=None,
                    stage_depth=None) -> LatencyResult:
    """Time up to ``repeats`` forward passes within ``cap_s`` seconds, with torch or onnxruntime.

    torch: eager, under ``torch.inference_mode()``. onnxruntime: the configuration exported to
    ONNX (and for int8 statically quantized), from the disk cache when it was made before;
    exporting and quantizing count against the cap.
    The cap starts after this host's one-off speed calibration for the family and runtime
    (``host_speed``), signalled by ``progress(0, total)``. Refuses up front what cannot fit the
    cap or the memory limit; stops adding timed runs once the next one would overrun (keeping
    at least 3), and stops with an error when even 3 cannot fit. ``progress(done, total)`` is
    called after each warm-up and timed pass.
    ``task``/``head`` time a dense-task network (``core.network.tasks``); ``resolution`` may then be (height, width).
    ``backbone`` is a name or an architecture (``core.load_spec``); ``stage_width``/``stage_depth`` (one
    multiplier per stage) time the per-stage network, as in ``core.profile``. The result's ``backbone`` is the
    network's own name (a loaded spec's ``custom-…``, a per-stage network's ``…-stages-…``).
    """
    cap_s = DEFAULT_CAP_S if cap_s is None else cap_s
    check_settings(device, batch, dtype, threads, warmup, repeats, cap_s, runtime, channels_last)
    onnx = runtime == "onnxruntime"
    # onnxruntime: MACs and memory of the fp32 module that is exported, plus the exported copy
    cost = profile(backbone, width, depth, resolution, batch=batch, dtype="float32" if onnx else dtype,
                   task=task, head=head, stage_width=stage_width, stage_depth=stage_depth)
    try:
        limit_mb = child_memory_limit_mb() if memory_limit_mb is None else number(
            "memory_limit_mb", memory_limit_mb, 1, 2 ** 40)
    except ScalingError as error:
        raise LatencyError(str(error)) from None
    held_mb = rss_mb() or 0.0
    refusal = memory_refusal(cost, runtime, dtype, held_mb, limit_mb)
    if refusal:
        raise LatencyError(refusal)
    needed = needed_bytes(cost, runtime, dtype, held_mb)
    threads = threads or torch.get_num_threads()
    # the calibrated model (the Explorer's predicted card) where this host has one, else the family's speed
    predicted_s = predicted_forward_s(cost, runtime, dtype, threads) if device == "cpu" else None
    with _RUN_LOCK:
        speed = host_speed(cost.base, device, dtype, threads, runtime)  # once per process, before the clock
        started = time.perf_counter()
        if progress is not None:
            progress(0, warmup + repeats)  # the clock starts now
        build_s, forward_s = estimate_seconds(cost, speed)
        if predicted_s is not None:
            forward_s = predicted_s
        if onnx and _onnx_cached(cost, dtype):
            build_s = 0.0  # nothing to export or quantize
        refusal = time_refusal(cost, forward_s, build_s, warmup, cap_s, making=onnx and build_s > 0,
                               basis=", by the calibrated model" if predicted_s is not None else "")
        if refusal:
            raise LatencyError(refusal)
        run = _onnx_timed_runs if onnx else _timed_runs
        with torch_threads(threads):
            return run(cost, device, batch, dtype, channels_last, warmup, repeats, started + cap_s, needed,
                       progress, started, threads)


def _onnx_cached(cost: Profile, dtype: str) -> bool:
    from core.measurement import onnx_runtime
    return onnx_runtime.is_cached(cost, dtype)


def _hw(resolution: int | tuple[int, int]) -> tuple[int, int]:
    return resolution if isinstance(resolution, tuple) else (resolution, resolution)


def _time_passes(one_pass: Callable[[], float], warmup: int, repeats: int, deadline: float,
                 progress) -> tuple[int, list[float], float | None]:
    """Warm-up passes (fewer if the cap is short), then timed ones until ``repeats`` or the cap.

    Returns (warm-up passes done, timings in ms, cores' worth of CPU other processes used meanwhile).
    """
    total = warmup + repeats
    done_warmup = 0
    for done_warmup in range(1, warmup + 1):
        elapsed = one_pass()
        if progress is not None:
            progress(done_warmup, total)
        if time.perf_counter() + MIN_TIMED_RUNS * elapsed > deadline:
            break  # keep what is left of the cap for the timed runs
    load_before, timing_started = cpu_jiffies(), time.perf_counter()
    timings: list[float] = []
    for _ in range(repeats):
        if timings and time.perf_counter() + timings[-1] / 1000 > deadline:  # the next pass would overrun
            if len(timings) >= MIN_TIMED_RUNS:
                break
            raise LatencyError(
                f"stopped: one forward pass takes {seconds(timings[-1] / 1000)} here, so {MIN_TIMED_RUNS} "
                "timed passes do not fit the cap: lower the resolution, the width, the depth or the batch")
        timings.append(one_pass() * 1000)
        if progress is not None:
            progress(done_warmup + len(timings), total)
    return done_warmup, timings, other_load(load_before, cpu_jiffies(), time.perf_counter() - timing_started)


def _result(cost: Profile, device: str, batch: int, dtype: str, channels_last: bool, threads: int,
            passes: tuple[int, list[float], float | None], needed: int, started: float, runtime: str,
            **extra) -> LatencyResult:
    done_warmup, timings, other = passes
    ordered = sorted(timings)
    median = statistics.median(ordered)
    _remember_speed(cost, device, dtype, threads, runtime, median)
    return LatencyResult(
        backbone=cost.backbone, width=cost.width, depth=cost.depth, resolution=cost.resolution,
        device=device, batch=batch, dtype=dtype, channels_last=channels_last,
        threads=threads, warmup=done_warmup, runs=len(timings), median_ms=median,
        p10_ms=percentile(ordered, 0.1), p90_ms=percentile(ordered, 0.9),
        images_per_s=batch * 1000 / median, estimated_memory_mb=needed / 2 ** 20,
        torch_version=torch.__version__, wall_s=time.perf_counter() - started,
        other_load_cores=None if other is None else round(other, 2),
        host_busy=other is not None and other > 0.5, runtime=runtime, stage_width=cost.stage_width,
        stage_depth=cost.stage_depth, **extra)


def _timed_runs(cost, device, batch, dtype, channels_last, warmup, repeats, deadline, needed,
                progress, started, threads) -> LatencyResult:
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = build_model(cost.backbone, cost.width, cost.depth, cost.num_classes, task=cost.task, head=cost.head)
    model = model.to(device=device, dtype=TORCH_DTYPES[dtype], memory_format=memory_format)
    images = torch.randn(batch, 3, *_hw(cost.resolution), device=device,
                         dtype=TORCH_DTYPES[dtype]).contiguous(memory_format=memory_format)

    def one_pass() -> float:
        start = time.perf_counter()
        model(images)
        _synchronize(device)
        return time.perf_counter() - start

    with torch.inference_mode():
        passes = _time_passes(one_pass, warmup, repeats, deadline, progress)
    return _result(cost, device, batch, dtype, channels_last, threads, passes, needed, started, "torch")


def _prepare_onnx(cost: Profile, dtype: str):
    from core.measurement import onnx_runtime

    try:
        return onnx_runtime.prepare(cost, dtype)
    except (RuntimeError, ValueError, OSError) as error:  # the exporter's or quantizer's own failure, a full disk
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise LatencyError(f"preparing the ONNX model failed: {first_line}. Try runtime torch, or a smaller "
                           "configuration") from error


def _onnx_timed_runs(cost, device, batch, dtype, channels_last, warmup, repeats, deadline, needed,
                     progress, started, threads) -> LatencyResult:
    from core.measurement import onnx_runtime

    prepared = _prepare_onnx(cost, dtype)
    try:
        session = onnx_runtime.session(prepared.path, device, threads, batch)
    except Exception:  # noqa: BLE001 - onnxruntime's load errors (InvalidProtobuf, Fail) share no base class
        if not prepared.cached:
            raise
        onnx_runtime.discard(cost, dtype)  # a damaged cached file: made again, once
        prepared = _prepare_onnx(cost, dtype)
        session = onnx_runtime.session(prepared.path, device, threads, batch)
    if time.perf_counter() > deadline:
        making = "exporting and quantizing" if dtype == "int8" else "exporting"
        raise LatencyError(f"stopped: {making} took the whole cap (the file is cached now, so measuring again "
                           "starts at timing): lower the resolution, the width or the depth, or raise the cap")
    feed = onnx_runtime.random_feed(batch, cost.resolution)

    def one_pass() -> float:
        start = time.perf_counter()
        session.run(None, feed)
        return time.perf_counter() - start

    passes = _time_passes(one_pass, warmup, repeats, deadline, progress)
    return _result(cost, device, batch, dtype, channels_last, threads, passes, needed, started, "onnxruntime",
                   onnxruntime_version=onnx_runtime.version(), model_file_bytes=prepared.file_bytes,
                   fp32_file_bytes=prepared.fp32_file_bytes, export_s=round(prepared.export_s, 3),
                   quantize_s=round(prepared.quantize_s, 3), prepared_cached=prepared.cached,
                   note=onnx_runtime.INT8_CAVEAT if dtype == "int8" else None)
