"""What a queued job may ask for: known keys, finite values within the app's ranges, a bounded cap.

The store is a file any web process writes, so the worker trusts no row: it checks each one here
before running it, and a bad row fails with one line instead of crashing the worker or running
unbounded. The same checks back ``measure_latency``'s and the command line's refusals.
A job's network is a built-in by name or a custom one carried whole (``spec``), per-stage multipliers on top:
see ``check_network``. Torch-free: the web server and the worker import it.
"""
from __future__ import annotations

import math
import os

from core.network.families import BACKBONE_NAMES
from core.network.scaling import DEPTH_RANGE, RESOLUTION_RANGE, WIDTH_RANGE, ScalingError
from core.network.tasks import HEADS, TASKS

BATCH_RANGE = (1, 256)  # the app's batch slider; the command line allows up to MAX_BATCH
MAX_BATCH = 1024
MAX_WARMUP = 100
MAX_REPEATS = 100_000  # the cap ends a run long before; the bound keeps a typo from meaning "forever"
MAX_CAP_S = 3600.0  # an hour: the longest run anyone may ask for, the command line included
RUNTIMES = ("torch", "onnxruntime")
DEVICES = ("cpu", "cuda", "mps")
DTYPES = ("float32", "bfloat16", "float16", "int8")
CPU_DTYPES = {"torch": ("float32", "bfloat16"), "onnxruntime": ("float32", "int8")}  # what each runtime times on CPU
NETWORK_KEYS = frozenset({"backbone", "spec", "stage_width", "stage_depth"})  # which network (see check_network)
LATENCY_KEYS = NETWORK_KEYS | {"width", "depth", "resolution", "device", "batch", "dtype", "channels_last",
                               "threads", "warmup", "repeats", "cap_s", "runtime", "task", "head"}
PTFLOPS_KEYS = NETWORK_KEYS | {"task", "width", "depth", "resolution"}
CALIBRATE_KEYS = frozenset({"task", "runtime", "dtype", "threads"})
CALIBRATION_MARGIN_S = 120.0  # a calibration's cap: its timing budget plus measuring the roofline and fitting


class BadSettings(ScalingError):
    """Settings no run may use; the message names the value and what is allowed."""


def host_cores() -> int:
    """The most threads a run may ask for: more than the host's cores only oversubscribes them."""
    return os.cpu_count() or 1


def default_cap_s() -> float:
    """``CSL_LATENCY_CAP_S`` (default 30): the cap of every queued run, which no row may raise."""
    try:
        cap = float(os.environ.get("CSL_LATENCY_CAP_S", "30"))
    except ValueError:
        cap = 30.0
    return cap if math.isfinite(cap) and 0 < cap <= MAX_CAP_S else 30.0


def number(name: str, value, low: float, high: float, whole: bool = False):
    """``value`` if it is a finite number (not a boolean) in [low, high], whole where asked; else BadSettings."""
    kinds = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        kind = "a whole number" if whole else "a finite number"
        raise BadSettings(f"{name} must be {kind} from {low:g} to {high:g}, not {str(value)[:40]!r}")
    if not low <= value <= high:
        raise BadSettings(f"{name} {value:g} is out of range: use {low:g} to {high:g}")
    return value


def check_threads(threads) -> int:
    cores = host_cores()
    if isinstance(threads, int) and not isinstance(threads, bool) and threads > cores:
        raise BadSettings(f"threads {threads} is more than this host's {cores} cores: use 1 to {cores}")
    return number("threads", threads, 1, cores, whole=True)


def check_job(settings) -> dict:
    """The settings a worker may run: known keys only, values checked, ``cap_s`` and ``repeats`` clamped.

    Raises ``BadSettings`` naming the first bad key or value, whatever the row holds.
    """
    try:
        return _check_job(settings)
    except (TypeError, OverflowError, ValueError) as error:  # lists where names belong, ints past a float
        if isinstance(error, BadSettings):
            raise
        raise BadSettings(f"a setting has a value of the wrong kind ({type(error).__name__})") from None


def _check_job(settings) -> dict:
    if not isinstance(settings, dict):
        raise BadSettings("a job's settings must be a JSON object")
    allowed = {"ptflops": PTFLOPS_KEYS, "calibrate": CALIBRATE_KEYS}.get(settings.get("task"), LATENCY_KEYS)
    unknown = sorted(str(key)[:40] for key in settings if key not in allowed)
    if unknown:
        raise BadSettings(f"unknown setting {unknown[0]!r}: a job may set {', '.join(sorted(allowed))}")
    checked = dict(settings)
    if allowed is CALIBRATE_KEYS:
        return _check_calibration(checked)
    check_network(checked)
    for key, (low, high) in (("width", WIDTH_RANGE), ("depth", DEPTH_RANGE)):
        if checked.get(key) is not None:
            number(key, checked[key], low, high)
    resolution = checked.get("resolution")
    sides = resolution if isinstance(resolution, (list, tuple)) and len(resolution) == 2 else [resolution]
    for side in sides:
        if side is not None:
            number("resolution", side, *RESOLUTION_RANGE, whole=True)
    if isinstance(resolution, list):
        checked["resolution"] = tuple(resolution)
    if allowed is PTFLOPS_KEYS:
        return {**checked, "cap_s": default_cap_s()}
    for key, choices in (("runtime", RUNTIMES), ("device", DEVICES), ("dtype", DTYPES),
                         ("task", TASKS)):
        if key in checked and checked[key] not in choices:
            raise BadSettings(f"{key} {str(checked[key])[:40]!r} is not one of {', '.join(choices)}")
    head = checked.get("head")
    if head is not None and head not in HEADS.get(checked.get("task", "classification"), ()):
        raise BadSettings(f"head {str(head)[:40]!r} does not belong to task {checked.get('task', 'classification')}")
    if "channels_last" in checked and not isinstance(checked["channels_last"], bool):
        raise BadSettings("channels_last must be true or false")
    number("batch", checked.get("batch", 1), 1, MAX_BATCH, whole=True)
    if checked.get("threads") is not None:
        check_threads(checked["threads"])
    number("warmup", checked.get("warmup", 3), 0, MAX_WARMUP, whole=True)
    checked["repeats"] = min(number("repeats", checked.get("repeats", 20), 1, 1e300, whole=True), MAX_REPEATS)
    cap = default_cap_s()
    if checked.get("cap_s") is not None:
        cap = min(number("cap_s", checked["cap_s"], 0.001, 1e300), cap)
    checked["cap_s"] = cap
    return checked


def check_network(settings: dict):
    """The network a job's settings name, checked: a built-in, or a spec's; per-stage multipliers on top.

    ``backbone`` is a built-in's name, or with ``spec`` (``core.export_spec``'s dict of a custom network) the
    name ``core.load_spec(spec)`` gives it (``custom-<digest>``); ``stage_width`` and ``stage_depth`` (lists,
    one number per stage, 0.25 to 3) multiply its stages. Returns the architecture or built-in name the
    multipliers apply to; raises ``BadSettings`` with one line.
    """
    from core.network.families import resolve
    from core.network.scaling import per_stage

    backbone, spec = settings.get("backbone"), settings.get("spec")
    if spec is None:
        if backbone not in BACKBONE_NAMES:
            hint = ": a custom network's job carries its spec" if str(backbone).startswith("custom-") else ""
            raise BadSettings(f"unknown backbone {str(backbone)[:40]!r}{hint}")
        network = backbone
    else:
        network = _spec_network(spec)
        if backbone != network.name:
            raise BadSettings(f"backbone {str(backbone)[:40]!r} is not the spec's name: a job with a spec names "
                              f"its network {network.name!r} (core.load_spec(spec).name)")
    lists = {key: settings.get(key) for key in ("stage_width", "stage_depth")}
    for key, values in lists.items():
        if values is not None and not isinstance(values, (list, tuple)):
            raise BadSettings(f"{key} must be a list of numbers, one per stage, not {str(values)[:40]!r}")
    arch = network if spec is not None else resolve(network)[0]  # what the multipliers apply to
    staged = arch
    if any(values is not None for values in lists.values()):
        try:
            staged = per_stage(arch, **lists)
        except ScalingError as error:
            raise BadSettings(_one_line(error)) from None
    task = settings.get("task", "classification")
    if task in TASKS and task != "classification" and staged.custom:
        raise BadSettings(f"{task} is built only on the built-in backbones at uniform scaling: drop the spec and "
                          "the per-stage multipliers, or use task classification")
    return network


def job_network(cost) -> dict:
    """How a queued job names the network a profile counted: the inverse of ``check_network``, and the one place
    a key is made, so one network has one key however the page reached it.

    Read from the profile alone (no registry lookup, which a busy server may have let go): its ``source`` by name
    if a built-in (as results were always stored), else its name and ``spec``; ``stage_width`` / ``stage_depth``
    where set.
    """
    from core.network.spec import export_spec

    source = cost.source
    keys = {"backbone": source} if isinstance(source, str) else {"backbone": source.name, "spec": export_spec(source)}
    for key in ("stage_width", "stage_depth"):
        if getattr(cost, key) is not None:
            keys[key] = list(getattr(cost, key))
    return keys


def _spec_network(spec):
    """The architecture a job's ``spec`` describes (``core.load_spec``: bounded before anything is counted)."""
    from core.network.spec import load_spec

    if not isinstance(spec, dict):
        raise BadSettings(f"spec must be a JSON object (core.export_spec's), not {type(spec).__name__}")
    try:
        return load_spec(spec)
    except ScalingError as error:  # SpecError: the field, its value and what it may be
        raise BadSettings(_one_line(error)) from None
    except RecursionError:
        raise BadSettings("spec: the document nests too deeply") from None


def _one_line(error: Exception, limit: int = 300) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:limit]


def calibration_budget_s() -> float:
    """``CSL_CALIBRATION_BUDGET_S`` (default 240): seconds of timing a queued calibration may spend."""
    try:
        budget = float(os.environ.get("CSL_CALIBRATION_BUDGET_S", "240"))
    except ValueError:
        return 240.0
    return budget if math.isfinite(budget) and 1 <= budget <= MAX_CAP_S else 240.0


def _check_calibration(checked: dict) -> dict:
    """A calibration job: a runtime and dtype this host times on its CPU, threads within its cores."""
    runtime, dtype = checked.get("runtime"), checked.get("dtype")
    if runtime not in CPU_DTYPES or dtype not in CPU_DTYPES[runtime]:
        choices = "; ".join(f"{name} with {' or '.join(dtypes)}" for name, dtypes in CPU_DTYPES.items())
        raise BadSettings(f"no calibration for runtime {str(runtime)[:40]!r} with dtype {str(dtype)[:40]!r}: "
                          f"use {choices}")
    check_threads(checked.get("threads"))
    budget = calibration_budget_s()
    return {**checked, "budget_s": budget, "cap_s": budget + CALIBRATION_MARGIN_S}
