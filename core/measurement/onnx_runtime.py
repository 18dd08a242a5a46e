"""ONNX Runtime as a second runtime: export, int8 static quantization, a bounded disk cache, sessions.

Export and quantization run where the timing runs (the latency worker or the command line,
never the web server) and count against the run's cap. Their files are cached under
``core.measurement.jobs.data_dir()/onnx``, keyed by the configuration, the recipe and the library versions;
least recently used files go first once the cache passes its size limit. A file is exported (and
calibrated) at batch 1 with a free batch axis, which each session fixes to its batch: tracing and
calibrating at batch 64 cost gigabytes for nothing. A cached file that does not load is deleted and
made again once.
int8 is static QDQ quantization calibrated on random inputs of a randomly initialised network:
the timing and the file size are real, an accuracy for such a model would mean nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from core.measurement.job_settings import CPU_DTYPES
from core.measurement.jobs import data_dir
from core.measurement.onnx_recipe import CALIBRATION_BATCHES, OPSET, RECIPE, TEMPORARY, WORK
from core.network.building import build_model
from core.network.counting import Profile
from core.network.families import ARCHITECTURES, resolve

onnxruntime.set_default_logger_severity(3)  # quantization's graph clean-up warns per unused constant

DTYPES = CPU_DTYPES["onnxruntime"]
INPUT = "images"
BATCH_AXIS = "batch"
INT8_CAVEAT = ("Timing and file size only: int8 by static quantization calibrated on random inputs of untrained "
               "weights. Accuracy after quantization needs trained weights and real calibration data, which this "
               "tool does not claim.")
MAX_FILE_BYTES = 2 ** 31  # protobuf's limit for one ONNX file (no external data here)
STALE_TEMP_S = 3600.0


def cache_limit_bytes() -> int:
    """``CSL_ONNX_CACHE_MB`` (default 1024): the most the cache keeps before dropping old files."""
    return int(os.environ.get("CSL_ONNX_CACHE_MB", "1024")) * 2 ** 20


def version() -> str:
    return onnxruntime.__version__


def available_devices() -> list[str]:
    """cpu always; cuda only where this onnxruntime build has the CUDA execution provider."""
    return ["cpu"] + (["cuda"] if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else [])


def supported_dtypes(device: str) -> list[str]:
    """float32 everywhere; int8 (QDQ) on the CPU execution provider."""
    return list(DTYPES) if device == "cpu" else ["float32"]


@dataclass(frozen=True)
class Prepared:
    """A model file ready to load, with what making it cost (recorded when it was made)."""

    path: Path
    file_bytes: int
    fp32_file_bytes: int
    export_s: float  # building the torch module and exporting it
    quantize_s: float  # pre-processing and static quantization (0 for float32)
    calibration_s: float  # the part of quantize_s spent in calibration passes
    cached: bool  # True when this call found the file already made


def cache_dir() -> Path:
    path = data_dir() / "onnx"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(cost: Profile, dtype: str) -> str:
    """Anything that changes the file: configuration, dtype, recipe and library versions (not the batch).

    The network is its exact name (a preset's, a loaded spec's ``custom-<digest>``, a per-stage network's
    ``<base>-stages-<digest>``), never its base's; a network that is not a built-in adds its own stage table
    too, so a file made in another process for another architecture of the same name is never reused.
    """
    versions = [metadata.version(name) for name in ("torch", "onnx", "onnxruntime")]
    network = [cost.backbone]
    if cost.base not in ARCHITECTURES:
        network.append(_content(cost.backbone))
    payload = json.dumps([*network, cost.width, cost.depth, cost.resolution, cost.num_classes, cost.task,
                          cost.head, dtype, RECIPE, versions])
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def _content(backbone: str) -> str:
    """A digest of a registered architecture's content (its title aside: the same network by another title)."""
    arch = resolve(backbone)[0]
    return hashlib.sha256(repr(replace(arch, title="")).encode()).hexdigest()[:16]


def _entry(cost: Profile, dtype: str) -> tuple[Path, Path]:
    """(model file, record) of a cache entry."""
    key = cache_key(cost, dtype)
    return cache_dir() / f"{key}.onnx", cache_dir() / f"{key}.json"


def is_cached(cost: Profile, dtype: str) -> bool:
    return all(path.exists() for path in _entry(cost, dtype))


def discard(cost: Profile, dtype: str) -> None:
    """Delete a cache entry (a file that failed to load); the next ``prepare`` makes it again."""
    for path in _entry(cost, dtype):
        path.unlink(missing_ok=True)


def prepare(cost: Profile, dtype: str) -> Prepared:
    """The ONNX file for this configuration and dtype: from the cache, else exported (and quantized).

    A cached fp32 file that the quantizer cannot read is deleted and exported again, once.
    """
    fp32 = _cached_or_made(cost, "float32", lambda target: _export(cost, target))
    if dtype == "float32":
        result = fp32
    else:
        try:
            result = _cached_or_made(cost, dtype, lambda target: _quantize(fp32.path, target, cost))
        except Exception:
            if not fp32.cached:
                raise
            discard(cost, "float32")
            fp32 = _cached_or_made(cost, "float32", lambda target: _export(cost, target))
            result = _cached_or_made(cost, dtype, lambda target: _quantize(fp32.path, target, cost))
        result = Prepared(result.path, result.file_bytes, fp32.file_bytes, fp32.export_s, result.quantize_s,
                          result.calibration_s, result.cached and fp32.cached)
    evict(keep={fp32.path, result.path})
    return result


def _cached_or_made(cost: Profile, dtype: str, make) -> Prepared:
    """Read the entry's record if both files are there; else make it under a temporary name and move it in."""
    path, record = _entry(cost, dtype)
    if path.exists() and record.exists():
        try:
            times = json.loads(record.read_text())
            os.utime(path)  # recently used: evicted last
            return Prepared(path, path.stat().st_size, path.stat().st_size, times["export_s"],
                            times["quantize_s"], times["calibration_s"], True)
        except (OSError, ValueError, KeyError, TypeError):  # a damaged record: make the entry again
            pass
    partial = path.with_name(f"{path.name}{TEMPORARY}{os.getpid()}")
    started = time.perf_counter()
    try:
        calibration_s = make(partial)
        made_s = time.perf_counter() - started
        times = {"export_s": made_s if dtype == "float32" else 0.0,
                 "quantize_s": 0.0 if dtype == "float32" else made_s,
                 "calibration_s": calibration_s or 0.0, "dtype": dtype, "backbone": cost.backbone,
                 "width": cost.width, "depth": cost.depth, "resolution": cost.resolution}
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    record.write_text(json.dumps(times))
    return Prepared(path, path.stat().st_size, path.stat().st_size, times["export_s"], times["quantize_s"],
                    times["calibration_s"], False)


def _export(cost: Profile, target: Path) -> None:
    model = build_model(cost.backbone, cost.width, cost.depth, cost.num_classes, task=cost.task, head=cost.head)
    images = torch.randn(input_shape(1, cost.resolution))
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo, which needs onnxscript (not installed).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (images,), str(target), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT], output_names=["logits"],
                          dynamic_axes={INPUT: {0: BATCH_AXIS}, "logits": {0: BATCH_AXIS}})


def _quantize(source: Path, target: Path, cost: Profile) -> float:
    """Static QDQ quantization after ORT's recommended pre-processing; returns the calibration seconds."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class RandomBatches(CalibrationDataReader):
        """A few random batches, timing the calibration passes they feed."""

        def __init__(self):
            generator = np.random.default_rng(0)
            shape = input_shape(1, cost.resolution)
            self.batches = iter([{INPUT: generator.standard_normal(shape, dtype=np.float32)}
                                 for _ in range(CALIBRATION_BATCHES)])
            self.first: float | None = None
            self.seconds = 0.0

        def get_next(self) -> dict | None:
            now = time.perf_counter()
            self.first = self.first or now
            batch = next(self.batches, None)
            if batch is None:
                self.seconds = now - self.first
            return batch

    reader = RandomBatches()
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix=f"{target.name}{WORK}{os.getpid()}-") as work:
        processed = Path(work) / "processed.onnx"
        # ORT's recommended pre-processing (shape inference, graph optimisation); the quantizer warns without it
        quant_pre_process(str(source), str(processed))
        # uint8 activations x int8 weights: the kernels x86-64 CPUs without VNNI run fastest (onnxruntime PR
        # #12088); here about 1.5x faster than int8 x int8. Per-channel weights, as int8 CNNs are deployed.
        quantize_static(str(processed), str(target), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return reader.seconds


def evict(keep: set[Path] = frozenset(), limit: int | None = None) -> list[Path]:
    """Drop least recently used entries until the cache fits its limit (never ``keep``); returns what went.

    Temporary files older than an hour (a run killed mid-export) go too.
    """
    limit = cache_limit_bytes() if limit is None else limit
    folder = cache_dir()
    now = time.time()
    for stale in [*folder.glob(f"*{TEMPORARY}*"), *folder.glob(f"*{WORK}*")]:
        if now - stale.stat().st_mtime <= STALE_TEMP_S:
            continue
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    entries = sorted(folder.glob("*.onnx"), key=lambda path: path.stat().st_mtime)
    total = sum(path.stat().st_size for path in entries)
    removed = []
    for path in entries:
        if total <= limit:
            break
        if path in keep:
            continue
        total -= path.stat().st_size
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
        removed.append(path)
    return removed


def session(path: Path, device: str, threads: int, batch: int,
            profile_prefix: str | None = None) -> onnxruntime.InferenceSession:
    """A session with ``threads`` intra-op threads, one inter-op thread, sequential execution, and the
    file's free batch axis fixed to ``batch`` (static shapes, as a static export would have).
    ``profile_prefix``: write onnxruntime's per-node profile there (``core.measurement.kernel_timing``)."""
    options = onnxruntime.SessionOptions()
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    options.add_free_dimension_override_by_name(BATCH_AXIS, batch)
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    return onnxruntime.InferenceSession(str(path), options, providers=[provider])


def input_shape(batch: int, resolution: int | tuple[int, int]) -> tuple[int, int, int, int]:
    """(batch, 3, height, width); dense tasks may have non-square inputs."""
    height, width = resolution if isinstance(resolution, tuple) else (resolution, resolution)
    return batch, 3, height, width


def random_feed(batch: int, resolution: int | tuple[int, int]) -> dict[str, np.ndarray]:
    return {INPUT: np.random.default_rng(1).standard_normal(input_shape(batch, resolution), dtype=np.float32)}
