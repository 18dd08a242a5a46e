"""Per-layer (kernel) timings from the runtimes' own profilers: what the latency model is fitted on.

One whole-network timing constrains a model only through its sum; the profilers split it. Each
kernel the runtime runs is attributed to a row of the analytic profile (``core.network.counting``) by the
module it ran in: torch's ``torch.profiler`` sees ``record_function`` ranges opened by hooks on the
modules that rows are named after; onnxruntime's session profiling names every node by the torch
module scope it was exported from (``/stages/stages.2/stages.2.0/Add``). A kernel inside several
rows' modules belongs to the innermost one (a block's own time is its residual sum). onnxruntime
nodes that carry no scope (layout reorders, quantized activations the exporter inlined) belong to
the row that ran just before them, which is the layer whose output they convert.

Also the network's unprofiled total (10th percentile of timed passes), so the model can learn what
sits between kernels (Python module calls, dispatch, the profiler's own cost) as a per-network overhead.
Runs in the worker or the CLI, never in the web server: it builds and times real networks.
"""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.measurement.quality import percentile
from core.network.counting import Profile

WARMUP = 2
REPEATS = 15
PROFILED_PASSES = 3
MARK = "csl::"  # prefix of the torch profiler ranges this module opens


@dataclass(frozen=True)
class KernelTiming:
    """One configuration: its unprofiled time and, per profile row, the median profiled ms of its kernels."""

    total_ms: float  # 10th percentile of REPEATS unprofiled passes, as the calibration defines "measured"
    rows: dict[str, float] = field(default_factory=dict)
    unattributed_ms: float = 0.0  # profiled time in no row (torch: the top-level module's own ops)
    kernels: int = 0  # kernel events per pass
    other_load: float | None = None  # cores' worth of CPU other processes used meanwhile


def row_of(module_path: str, rows: set[str]) -> str | None:
    """The innermost row a module belongs to: the longest row name that is the path or a dotted prefix of it."""
    path = module_path
    while path:
        if path in rows:
            return path
        path = path.rpartition(".")[0]
    return None


def scope_path(node_name: str) -> str:
    """The torch module path an exported ONNX node came from: '/stages/stages.2/stages.2.0/se/Mul' -> 'stages.2.0.se'.

    The exporter names each scope by its module's full path or by the attribute under its parent.
    """
    if not node_name.startswith("/"):
        return ""
    path = ""
    for part in node_name.split("/")[1:-1]:
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path


def _medians(per_pass: list[dict[str, float]], names: set[str]) -> dict[str, float]:
    return {name: statistics.median(one.get(name, 0.0) for one in per_pass) for name in names}


def _timed(function, passes: int) -> list[float]:
    timings = []
    for _ in range(passes):
        start = time.perf_counter()
        function()
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def torch_kernels(cost: Profile, dtype: str, threads: int) -> KernelTiming:
    """Eager torch on the CPU: unprofiled passes, then ``PROFILED_PASSES`` under ``torch.profiler``."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from core.measurement.host import TORCH_DTYPES, torch_threads
    from core.network.building import build_model

    names = {row[0] for row in cost.rows}
    model = build_model(cost.backbone, cost.width, cost.depth, cost.num_classes, task=cost.task, head=cost.head)
    model = model.to(dtype=TORCH_DTYPES[dtype]).eval()
    height, width = cost.resolution if isinstance(cost.resolution, tuple) else (cost.resolution,) * 2
    images = torch.randn(cost.batch, 3, height, width, dtype=TORCH_DTYPES[dtype])
    with torch_threads(threads), torch.inference_mode():
        _timed(lambda: model(images), WARMUP)
        total = percentile(sorted(_timed(lambda: model(images), REPEATS)), 0.1)
        ranges: list = []
        handles = []
        for name, module in model.named_modules():
            if name in names:
                handles.append(module.register_forward_pre_hook(
                    lambda module, args, name=name: ranges.append(record_function(MARK + name).__enter__())))
                handles.append(module.register_forward_hook(
                    lambda module, args, output: ranges.pop().__exit__(None, None, None)))
        try:
            with profile(activities=[ProfilerActivity.CPU]) as profiler:
                for _ in range(PROFILED_PASSES):
                    with record_function(MARK + "pass"):
                        model(images)
        finally:
            for handle in handles:
                handle.remove()
    per_pass: list[dict[str, float]] = []
    outside: list[float] = []
    kernels = 0
    for event in profiler.events():
        if event.name != MARK + "pass" or event.cpu_parent is not None:
            continue
        one: dict[str, float] = {}
        own_outside = _own_ms(event, one)
        per_pass.append(one)
        outside.append(own_outside)
        kernels = max(kernels, _count_ops(event))
    return KernelTiming(total, _medians(per_pass, names), statistics.median(outside), kernels)


def _own_ms(event, into: dict[str, float]) -> float:
    """Milliseconds of the operators directly under ``event`` (not in a nested row range: those rows' own
    are added to ``into``). Operators only: the Python between them (module calls, the hooks) is not a
    kernel's, and the network's overhead term accounts for it."""
    own = 0.0
    stack = list(event.cpu_children)
    while stack:
        child = stack.pop()
        if child.name == MARK + "pass" or not child.name.startswith(MARK):
            own += child.cpu_time_total / 1000  # an operator: its children are its own internals
        else:
            name = child.name[len(MARK):]
            into[name] = into.get(name, 0.0) + _own_ms(child, into)
    return own


def _count_ops(event) -> int:
    """Top-level aten operators under ``event`` (their own children are the same op's internals)."""
    count, stack = 0, list(event.cpu_children)
    while stack:
        child = stack.pop()
        if child.name.startswith(MARK):
            stack.extend(child.cpu_children)
        else:
            count += 1
    return count


def onnx_kernels(cost: Profile, dtype: str, threads: int) -> KernelTiming:
    """onnxruntime on the CPU: unprofiled passes, then ``PROFILED_PASSES`` with session profiling on."""
    from core.measurement import onnx_runtime

    names = {row[0] for row in cost.rows}
    prepared = onnx_runtime.prepare(cost, dtype)
    feed = onnx_runtime.random_feed(cost.batch, cost.resolution)
    total = _onnx_total_ms(onnx_runtime.session(prepared.path, "cpu", threads, cost.batch), feed)
    with tempfile.TemporaryDirectory(prefix="csl-ort-profile-") as folder:
        profiled = onnx_runtime.session(prepared.path, "cpu", threads, cost.batch,
                                        profile_prefix=str(Path(folder) / "run"))
        for _ in range(WARMUP + PROFILED_PASSES):
            profiled.run(None, feed)
        events = json.loads(Path(profiled.end_profiling()).read_text())
    per_pass, kernels = onnx_passes(events, names)
    return KernelTiming(total, _medians(per_pass[-PROFILED_PASSES:], names), 0.0, kernels)


def _onnx_total_ms(session, feed) -> float:
    _timed(lambda: session.run(None, feed), WARMUP)
    return percentile(sorted(_timed(lambda: session.run(None, feed), REPEATS)), 0.1)


def onnx_passes(events: list[dict], names: set[str]) -> tuple[list[dict[str, float]], int]:
    """Per ``model_run`` in an onnxruntime profile: ms per row of its node kernels; and kernels per run."""
    runs = sorted((event["ts"], event["ts"] + event["dur"]) for event in events if event.get("name") == "model_run")
    nodes = sorted((event for event in events if event.get("cat") == "Node"
                    and event.get("name", "").endswith("_kernel_time")), key=lambda event: event["ts"])
    per_pass: list[dict[str, float]] = [{} for _ in runs]
    counts = [0] * len(runs)
    which, previous, waiting = 0, None, []
    for node in nodes:
        while which < len(runs) and node["ts"] > runs[which][1]:
            which, previous, waiting = which + 1, None, []
        if which == len(runs):
            break
        row = row_of(scope_path(node["name"][:-len("_kernel_time")]), names) or previous
        counts[which] += 1
        if row is None:  # before the first named node: the first row takes it
            waiting.append(node["dur"])
            continue
        one = per_pass[which]
        one[row] = one.get(row, 0.0) + (node["dur"] + sum(waiting)) / 1000
        previous, waiting = row, []
    return per_pass, max(counts, default=0)


def kernel_timing(cost: Profile, runtime: str, dtype: str, threads: int) -> KernelTiming:
    """The runtime's timing of ``cost``, with how busy the rest of the host was meanwhile."""
    from core.measurement.host import cpu_jiffies, other_load

    before, started = cpu_jiffies(), time.perf_counter()
    timing = (onnx_kernels if runtime == "onnxruntime" else torch_kernels)(cost, dtype, threads)
    other = other_load(before, cpu_jiffies(), time.perf_counter() - started)
    return replace(timing, other_load=None if other is None else round(other, 3))
