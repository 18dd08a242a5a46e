"""Predicted latency: a per-kernel model calibrated on this host, or a roofline bound for other devices.

On this host (``device="host"``) each layer of the analytic profile runs as one kernel of its kind
(dense kxk conv, 1x1 conv, depthwise, SE conv, linear, elementwise, resampling; with onnxruntime at
float32 a convolution its CPU provider cannot run in its channel-blocked layout is a kind of its own,
``blocked_layout``), whose time is

    seconds per padded MAC x padded MACs + seconds per byte x bytes it moves + seconds per call

(batch scales MACs and bytes, not the call), fitted per kind by non-negative least squares on
thousands of per-layer timings from the runtime's own profiler (``core.measurement.kernel_timing``: 48 small
networks of every backbone, batch 1 and 8, each network's layers weighted by 1 / its total so every
network counts alike), then times a per-layer correction that gradient-boosted trees learnt from the same
timings on each kernel's shape (``core.prediction.kernel_trees``: channels, map size, stride, alignment).
A network is then

    scale x sum of its corrected kernels + seconds per dispatched operator x operators

fitted on the same networks' unprofiled totals (profiled kernels leave out what runs between them,
Python module calls and dispatch, and include the profiler's own cost: ``scale`` and the per-operator
term, of either sign, account for both), times a per-family factor: the median
measured / predicted over the family's calibration networks, for what a runtime does between a
family's kernels that no kernel shows. The fit also measures this host's peak FLOP/s and bandwidth for
the roofline (once per host), and caches the result on disk keyed by host fingerprint, library
versions, runtime, dtype and threads: a changed key calibrates again. ``predict_latency`` then needs
only the analytic profile: no weights, no torch, no scikit-learn, about a millisecond. Other devices get the
roofline lower bound (``core.prediction.roofline``).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import cache, cached_property
from importlib import metadata
from pathlib import Path

from core.measurement.job_settings import CPU_DTYPES
from core.measurement.jobs import data_dir, host_fingerprint
from core.network.architecture import Architecture
from core.network.counting import DTYPE_BYTES, LAYER_COLUMNS, Profile
from core.network.families import ARCHITECTURES, resolve
from core.network.profiling import profile
from core.network.scaling import ScalingError, stage_source
from core.prediction.kernel_trees import TreeEnsemble, features
from core.prediction.kernel_trees import fit as fit_trees
from core.prediction.roofline import (
    HOST,
    Device,
    host_device,
    host_lanes,
    layer_traffic,
    padded_macs,
    published_devices,
)

RUNTIMES = ("torch", "onnxruntime")
KINDS = ("conv_kxk", "conv_1x1", "dwconv", "se", "linear", "elementwise", "resample",
         "conv_kxk_unblocked", "conv_1x1_unblocked", "dwconv_unblocked")
TERMS = ("s_per_mac", "s_per_byte", "s_per_call")
NETWORK_TERMS = ("scale", "s_per_op")
MIN_NETWORKS = 8  # fewer calibration networks leave the network terms unconstrained
BACKBONES = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_b0",
             "resnet18", "resnet34", "resnet50")
# Calibration grid; the bench holds out other widths, depths and resolutions.
CALIBRATION_WIDTHS = (0.35, 0.75, 1.0, 1.3)
CALIBRATION_DEPTHS = (0.6, 1.0, 1.5)
CALIBRATION_RESOLUTIONS = (64, 128, 192)
CALIBRATION_BATCHES = (1, 8)
MAX_CALIBRATION_MACS = 3e9  # per forward (batch included): keeps each timing short
DEFAULT_BUDGET_S = 300.0
REPEATS = 15
# What a calibration timing is: the 10th percentile of REPEATS timed runs, not the median. Other
# processes only ever slow a run down, so the fast end of the spread is what this host does when it
# is free; on a quiet host it is within a few percent of the worker's median.
MEASURED = "p10 of 15 timed runs"
_COLUMN = {name: index for index, name in enumerate(LAYER_COLUMNS)}
PREDICTION_COLUMNS = ("name", "type", "macs", "padded_macs", "bytes", "intensity", "attainable_gflops",
                      "bound_ms", "time_ms", "bound")


class NotCalibrated(ScalingError):
    """No calibration for this runtime, dtype and threads on this host: says how to make one (``command``)."""

    def __init__(self, message: str, command: str = "python -m core calibrate"):
        super().__init__(message)
        self.command = command


@dataclass(frozen=True)
class Config:
    """One timed configuration."""

    backbone: str
    width: float
    depth: float
    resolution: int
    batch: int = 1


def default_threads() -> int:
    """Threads a calibration and a prediction assume unless told: every core (torch's own default here)."""
    return os.cpu_count() or 1


@cache
def library_versions(runtime: str) -> dict[str, str]:
    """Versions that change a timing: torch always (it builds or exports the model), the runtime's own."""
    names = ["torch"] + (["onnxruntime", "onnx"] if runtime == "onnxruntime" else [])
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "none"
    return versions


MODEL = "kernels-2"  # the model's form (2: with tree corrections): a calibration of another form is made again


def calibration_key(runtime: str, dtype: str, threads: int) -> dict:
    key = {"host": host_fingerprint(), "versions": library_versions(runtime), "runtime": runtime,
           "dtype": dtype, "threads": threads, "model": MODEL}
    block = blocked_layout(runtime, dtype)
    if block:  # the kinds a calibration fits depend on it (and one made before it split kinds is made again)
        key["blocked_layout"] = block
    return key


@cache
def blocked_layout(runtime: str, dtype: str) -> int | None:
    """Channels per block of onnxruntime's NCHWc layout for float32 on this CPU, where it has one: its
    graph optimiser runs a convolution blocked (fast) only when the block divides its input channels (or
    they are fewer), and for a grouped one its output channels too; any other runs unblocked (im2col and a
    GEMM), several times slower per MAC. MLAS blocks 16 channels with AVX-512, 8 on other x86-64 CPUs
    (onnxruntime ``nchwc_transformer.cc``, ``MlasNchwcGetBlockSize``). None for torch (oneDNN pads any
    channel count itself), for int8 (quantized convolutions are not blocked) and off x86-64."""
    if runtime != "onnxruntime" or dtype != "float32" or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    return 16 if host_lanes()["float32"] >= 16 else 8


_PATHS: dict[tuple[str, str], Path] = {}


def calibration_path(key: dict) -> Path:
    """The calibration file for ``key`` (remembered: a prediction on every slider move looks it up)."""
    text = json.dumps(key, sort_keys=True)
    memo = (os.environ.get("CSL_DATA_DIR", ""), text)
    if memo not in _PATHS:
        folder = data_dir(create=False) / "latency_model"  # made when a calibration is written, not read
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        _PATHS[memo] = folder / f"{key['runtime']}-{key['dtype']}-t{key['threads']}-{digest}.json"
    return _PATHS[memo]


@dataclass(frozen=True)
class Calibration:
    """Fitted coefficients for one runtime, dtype and thread count on one host, with what they were fitted on."""

    key: dict
    coefficients: dict[str, float]
    peak_flops: float  # this host, float32 matmul
    bandwidth: float  # this host, bytes/s (copy: read + write)
    # config, measured_ms, fitted_ms, used, profiled_ms, rows (profiled ms per layer), other_load
    samples: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    created: float = 0.0
    # Per base architecture: median measured / fitted over its calibration timings: what a runtime does
    # between a family's kernels (its graph's fusions, its Python blocks) that no kernel's time shows.
    family_factors: dict[str, float] = field(default_factory=dict)
    corrections: dict = field(default_factory=dict)  # kernel_trees.export's arrays; empty: none

    @cached_property
    def trees(self) -> TreeEnsemble:
        return TreeEnsemble(self.corrections)

    @cached_property
    def kernels(self) -> dict[str, list[float]]:
        """Per kernel kind, its ``TERMS`` coefficients (0 for a kind its runtime never runs, which a
        calibration made before that kind existed lacks)."""
        return {kind: [self.coefficients.get(f"{kind}.{term}", 0.0) for term in TERMS] for kind in KINDS}

    @cached_property
    def network(self) -> list[float]:
        """(scale on summed kernels, seconds per dispatched operator)."""
        return [self.coefficients[f"network.{term}"] for term in NETWORK_TERMS]

    @cached_property
    def kernel_samples(self) -> int:
        """Per-layer timings the kernels were fitted on."""
        return sum(len(sample.get("rows", ())) for sample in self.samples)

    @cached_property
    def device(self) -> Device:
        """This host on the roofline, as this calibration measured it."""
        return host_device(self.peak_flops, self.bandwidth)

    @cached_property
    def fit_error(self) -> float:
        """Median absolute relative error on the samples the fit used, family factors applied."""
        errors = [abs(s["fitted_ms"] * self.family_factors.get(resolve(s["config"]["backbone"])[0].name, 1.0)
                      / s["measured_ms"] - 1) for s in self.samples if s["used"]]
        return statistics.median(errors) if errors else math.nan


_LOADED: dict[str, Calibration] = {}


def load_calibration(runtime: str = "torch", dtype: str = "float32", threads: int | None = None) -> Calibration:
    """The cached calibration for this host and library versions; ``NotCalibrated`` says how to make one."""
    threads = threads or default_threads()
    path = calibration_path(calibration_key(runtime, dtype, threads))
    cached = _LOADED.get(str(path))
    if cached is not None:
        return cached
    if not path.is_file():
        command = f"python -m core calibrate --runtime {runtime} --dtype {dtype} --threads {threads}"
        raise NotCalibrated(f"not calibrated yet for {runtime}, {dtype}, {threads} thread(s) on this host: run "
                            f"'{command}' (a few minutes)", command)
    try:
        calibration = Calibration(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as error:  # damaged or from an older layout: calibrate again
        command = f"python -m core calibrate --runtime {runtime} --dtype {dtype} --threads {threads} --force"
        raise NotCalibrated(f"the calibration file cannot be read ({type(error).__name__}): run '{command}'",
                            command) from None
    _LOADED[str(path)] = calibration
    return calibration


def save_calibration(calibration: Calibration) -> None:
    """Write a fitted calibration where ``load_calibration`` finds it."""
    path = calibration_path(calibration.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(calibration), indent=1))
    _LOADED[str(path)] = calibration


def layer_kind(row: tuple) -> str | None:
    """Which throughput a layer's MACs run at: None for layers without MACs (pooling, sums, SE rescale)."""
    kind = row[_COLUMN["type"]]
    if kind == "conv":
        return "conv_kxk" if row[_COLUMN["kernel"]] > 1 else "conv_1x1"
    return {"dwconv": "dwconv", "se_conv": "se", "linear": "linear"}.get(kind)


def kernel_kind(row: tuple, block: int | None = None) -> str:
    """The kernel a layer runs as: a MAC kind, resampling (pooling, upsampling) or elementwise (sums,
    rescales); a convolution that ``block`` (``blocked_layout``) does not fit, its kind's unblocked one."""
    kind = layer_kind(row)
    if kind is None:
        return "resample" if row[_COLUMN["type"]] in ("avgpool", "maxpool", "upsample") else "elementwise"
    if block and kind in ("conv_kxk", "conv_1x1", "dwconv") and not _blocked(row, block):
        return f"{kind}_unblocked"
    return kind


def _blocked(row: tuple, block: int) -> bool:
    """Whether onnxruntime's NCHWc transformer takes this convolution (its conditions, in its order)."""
    inputs, outputs, groups = row[_COLUMN["in_channels"]], row[_COLUMN["out_channels"]], row[_COLUMN["groups"]]
    per_group = inputs // groups
    if groups > 1:
        if outputs % block:
            return False
        return (per_group == 1 and outputs == groups) or (per_group % block == 0 and outputs // groups % block == 0)
    return per_group < block or per_group % block == 0


def dispatched_ops(row: tuple) -> int:
    """Operators an eager engine dispatches for one row: a conv with its batch norm and activation, etc."""
    kind, activation = row[_COLUMN["type"]], 1 if row[_COLUMN["nonlinearity"]] else 0
    if kind in ("conv", "dwconv"):
        return 2 + activation
    if kind == "se_conv":  # the reduce conv also pools its input
        return 1 + activation + row[_COLUMN["name"]].endswith(".reduce")
    return 1 + activation  # linear, residual sum (+ ReLU in ResNets), pooling, SE rescale


def kernel_terms(row: tuple, batch: int, dtype_bytes: int, lanes: int | None,
                 block: int | None = None) -> tuple[float, float, float]:
    """(padded MACs, bytes moved, 1 call) of one layer at ``batch``, in ``TERMS`` order. An unblocked
    convolution pads nothing: its MACs are its own."""
    if block and kernel_kind(row, block).endswith("_unblocked"):
        lanes = None
    macs = padded_macs(row, lanes) * batch if layer_kind(row) else 0.0
    return macs, layer_traffic(row, batch, dtype_bytes), 1.0


# ---- fitting -----------------------------------------------------------------------------------

def _nnls(matrix, target) -> list[float]:
    """Non-negative least squares (columns scaled to unit norm for conditioning)."""
    import numpy
    from scipy.optimize import nnls

    a = numpy.asarray(matrix, dtype=float)
    norms = numpy.linalg.norm(a, axis=0)
    norms[norms == 0] = 1.0
    solution, _ = nnls(a / norms, numpy.asarray(target, dtype=float), maxiter=50 * a.shape[1])
    return (solution / norms).tolist()


def layer_features(cost: Profile, lanes: int | None, block: int | None = None) -> list[list[float]]:
    """Each row's shape features for the tree corrections (``kernel_trees.features``)."""
    size = DTYPE_BYTES[cost.dtype]
    return [features(row, KINDS.index(kernel_kind(row, block)), cost.batch, layer_traffic(row, cost.batch, size),
                     lanes) for row in cost.rows]


def fit_corrections(networks: list[tuple[Profile, dict[str, float]]], kernels: dict[str, list[float]],
                    lanes: int | None, block: int | None = None) -> dict:
    """Trees for log(profiled / linear kernel time) of every profiled layer (``kernel_trees.fit``)."""
    rows, ratios = [], []
    for cost, profiled in networks:
        linear = kernel_seconds(cost, kernels, lanes, block)
        for row, shape, seconds in zip(cost.rows, layer_features(cost, lanes, block), linear):
            measured = profiled.get(row[_COLUMN["name"]], 0.0) / 1000
            if measured > 0:
                rows.append(shape)
                ratios.append(math.log(measured / max(seconds, 1e-7)))
    return fit_trees(rows, ratios)


def fit_kernels(networks: list[tuple[Profile, dict[str, float]]], lanes: int | None,
                block: int | None = None) -> dict[str, list[float]]:
    """Per kernel kind, the ``TERMS`` coefficients (seconds per unit) that best give its profiled times.

    ``networks``: each calibration network's profile and its profiled ms per row. A row's squared error
    is weighted by 1 / its network's total, so small networks weigh as much as large ones.
    """
    import numpy

    matrices: dict[str, tuple[list, list]] = {kind: ([], []) for kind in KINDS}
    for cost, rows in networks:
        weight = 1 / math.sqrt(max(sum(rows.values()), 1e-6) / 1000)
        for row in cost.rows:
            terms, targets = matrices[kernel_kind(row, block)]
            terms.append([value * weight for value in
                          kernel_terms(row, cost.batch, DTYPE_BYTES[cost.dtype], lanes, block)])
            targets.append(rows.get(row[_COLUMN["name"]], 0.0) / 1000 * weight)
    return {kind: (_nnls(numpy.asarray(terms), targets) if terms else [0.0] * len(TERMS))
            for kind, (terms, targets) in matrices.items()}


def kernel_seconds(cost: Profile, kernels: dict[str, list[float]], lanes: int | None,
                   block: int | None = None, trees: TreeEnsemble | None = None) -> list[float]:
    """Each row's fitted kernel seconds (``trees``: with their corrections)."""
    size = DTYPE_BYTES[cost.dtype]
    linear = [_dot(kernel_terms(row, cost.batch, size, lanes, block), kernels[kernel_kind(row, block)])
              for row in cost.rows]
    if trees is None or not trees.spec:
        return linear
    return [seconds * math.exp(correction)
            for seconds, correction in zip(linear, trees(layer_features(cost, lanes, block)))]


def fit_network(kernel_s: list[float], ops: list[int], measured_ms: list[float]) -> tuple[list[float], list[bool]]:
    """(scale, seconds per operator) taking summed kernel seconds to unprofiled totals, on relative error;
    a second pass leaves out outliers (a busy moment). Returns them and which networks the fit used."""
    import numpy

    def fit(rows: list[int]) -> list[float]:
        matrix = [[kernel_s[i] / (measured_ms[i] / 1000), ops[i] / (measured_ms[i] / 1000)] for i in rows]
        solution, *_ = numpy.linalg.lstsq(numpy.asarray(matrix), numpy.ones(len(rows)), rcond=None)
        return solution.tolist()

    everything = list(range(len(measured_ms)))
    terms = fit(everything)
    errors = [abs((terms[0] * kernel_s[i] + terms[1] * ops[i]) * 1000 / measured_ms[i] - 1) for i in everything]
    spread = statistics.median(errors)
    keep = [i for i in everything if errors[i] <= max(3 * spread, 0.25)]
    if len(keep) < len(everything) and len(keep) >= MIN_NETWORKS:
        terms = fit(keep)
    used = set(keep) if len(keep) >= MIN_NETWORKS else set(everything)
    return terms, [i in used for i in everything]


def family_factors(samples: list[dict], minimum: int = 2) -> dict[str, float]:
    """Median measured / fitted per base architecture (at least ``minimum`` timings of it).

    Every sample counts, also those the fit left out as outliers: a family the kernels misjudge is
    exactly what the fit leaves out, and its median is robust to one noisy timing.
    """
    ratios: dict[str, list[float]] = {}
    for sample in samples:
        if sample["fitted_ms"] > 0:
            base = resolve(sample["config"]["backbone"])[0].name
            ratios.setdefault(base, []).append(sample["measured_ms"] / sample["fitted_ms"])
    return {base: statistics.median(values) for base, values in ratios.items() if len(values) >= minimum}


def _dot(a: Iterable[float], b: Iterable[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def check_runtime(runtime: str, dtype: str, host: bool = True) -> None:
    """Refuse unknown names and, for this host (``host``), a runtime and dtype it cannot time, so cannot
    calibrate, naming what it can. A roofline bound on another device takes any dtype."""
    if runtime not in RUNTIMES:
        raise ScalingError(f"runtime {runtime!r} is not known: use one of {', '.join(RUNTIMES)}")
    if dtype not in DTYPE_BYTES:
        raise ScalingError(f"dtype {dtype!r} is not known: use one of {', '.join(DTYPE_BYTES)}")
    if host and dtype not in CPU_DTYPES[runtime]:
        other = [name for name, dtypes in CPU_DTYPES.items() if dtype in dtypes and name != runtime]
        instead = f"runtime {other[0]} for {dtype}, or " if other else ""
        raise ScalingError(f"{runtime} does not time {dtype} on this host's CPU, so there is no latency model for "
                           f"it: pick {instead}{' or '.join(CPU_DTYPES[runtime])}")


# ---- predicting --------------------------------------------------------------------------------

@dataclass(frozen=True)
class LatencyPrediction:
    """Predicted milliseconds per batch, with one row per profile layer (``PREDICTION_COLUMNS``).

    ``method`` is "calibrated model" on this host, "roofline lower bound" elsewhere: a bound is never a
    measurement and never a forecast of what a real engine reaches.
    """

    backbone: str
    width: float
    depth: float
    resolution: int
    batch: int
    dtype: str
    runtime: str
    device: str
    threads: int
    method: str
    total_ms: float
    bound_ms: float
    padded_macs: int
    macs: int
    lanes: int | None
    basis: str
    rows: tuple[tuple, ...] = field(repr=False, compare=False)

    @property
    def lane_waste(self) -> float:
        """Share of padded MACs that pad channels to the lane width (0 = every channel count aligned)."""
        return 1 - self.macs / self.padded_macs if self.padded_macs else 0.0

    @cached_property
    def layers(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(PREDICTION_COLUMNS))

    def summary(self) -> dict:
        values = {key: value for key, value in asdict(self).items() if key != "rows"}
        values["lane_waste"] = self.lane_waste
        return values


def target_device(name: str, calibration: Calibration | None = None) -> Device:
    """A device by name: 'host' (needs this host's calibration) or a row of the device table."""
    if name == HOST:
        if calibration is None:
            raise NotCalibrated("this host has no measured roofline yet: run 'python -m core calibrate'")
        return calibration.device
    devices = published_devices()
    if name not in devices:
        raise ScalingError(f"device {name!r} is not known: use one of {', '.join((HOST, *devices))}")
    return devices[name]


def factor_base(base: str) -> str:
    """Whose family factor a network takes: a built-in its own, a per-stage network of a built-in
    (``<base>-stages-<digest>``) its built-in's; a loaded spec none (its name is in no calibration)."""
    built_in = stage_source(base)[0]
    return built_in if built_in in ARCHITECTURES else base


def predict_from_profile(cost: Profile, runtime: str = "torch", device: str = HOST,
                         threads: int | None = None) -> LatencyPrediction:
    """The prediction for an existing profile (the Explorer's cached one): no weights, no torch."""
    check_runtime(runtime, cost.dtype, host=device == HOST)
    threads = threads or default_threads()
    calibration = load_calibration(runtime, cost.dtype, threads) if device == HOST else None
    target = target_device(device, calibration)
    peak, bandwidth = target.peak(cost.dtype), target.bandwidth
    lanes = target.lanes.get(cost.dtype)
    scale, per_op = calibration.network if calibration else (1.0, 0.0)
    factor = calibration.family_factors.get(factor_base(cost.base), 1.0) if calibration else 1.0
    # each row's corrected kernel seconds, as the calibration fitted them; None: the roofline bound instead
    kernel_s = (kernel_seconds(cost, calibration.kernels, lanes, blocked_layout(runtime, cost.dtype),
                               calibration.trees) if calibration else [None] * len(cost.rows))
    size, batch = DTYPE_BYTES[cost.dtype], cost.batch
    rows, total, bound_total, padded_total, macs_total = [], 0.0, 0.0, 0, 0
    for row, kernel in zip(cost.rows, kernel_s):
        macs = row[_COLUMN["macs"]] * batch
        padded = padded_macs(row, lanes) * batch
        moved = layer_traffic(row, batch, size)
        compute_s, memory_s = 2 * macs / peak, moved / bandwidth
        bound_s = max(compute_s, memory_s)
        seconds = bound_s if kernel is None else factor * (scale * kernel + per_op * dispatched_ops(row))
        intensity = 2 * macs / moved if moved else 0.0
        rows.append((row[_COLUMN["name"]], row[_COLUMN["type"]], macs, padded, moved, intensity,
                     min(peak, intensity * bandwidth) / 1e9, bound_s * 1000, seconds * 1000,
                     "compute" if compute_s >= memory_s else "memory"))
        total += seconds
        bound_total += bound_s
        padded_total += padded
        macs_total += macs
    if calibration is not None:
        method = "calibrated model"
        basis = (f"per-kernel model (linear rates and tree corrections) fitted to {calibration.kernel_samples:,} "
                 "profiled layer timings of "
                 f"{sum(s['used'] for s in calibration.samples)} small networks on this host ({runtime}, "
                 f"{threads} thread(s); median fit error {calibration.fit_error:.0%}), "
                 + (f"times {factor:.2f} for this family's own fit" if factor_base(cost.base) in ARCHITECTURES
                    else "with no family factor (a custom network belongs to no calibrated family)"))
    else:
        method = "roofline lower bound"
        basis = (f"lower bound on {target.title}: each layer max(FLOPs / peak, bytes / bandwidth) from published "
                 "peaks; a real engine is slower (dispatch, caches, kernels); the runtime is not modelled")
    return LatencyPrediction(
        backbone=cost.backbone, width=cost.width, depth=cost.depth, resolution=cost.resolution, batch=batch,
        dtype=cost.dtype, runtime=runtime, device=device, threads=threads, method=method,
        total_ms=total * 1000, bound_ms=bound_total * 1000, padded_macs=padded_total, macs=macs_total,
        lanes=lanes, basis=basis, rows=tuple(rows))


def predict_latency(backbone: str | Architecture, width: float | None = None, depth: float | None = None,
                    resolution: int | None = None, batch: int = 1, dtype: str = "float32",
                    runtime: str = "torch", device: str = HOST, threads: int | None = None, *,
                    stage_width=None, stage_depth=None) -> LatencyPrediction:
    """Predicted latency of a configuration: calibrated model on 'host', roofline lower bound on other devices.

    ``backbone`` is a name or an architecture (``core.load_spec``); ``stage_width``/``stage_depth`` (one
    multiplier per stage) predict the per-stage network, as in ``core.profile``.
    """
    cost = profile(backbone, width, depth, resolution, batch=batch, dtype=dtype, stage_width=stage_width,
                   stage_depth=stage_depth)
    return predict_from_profile(cost, runtime, device, threads)

