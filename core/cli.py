"""``python -m core``: list, profile, sweep, latency, predict, calibrate and export-spec from the shell.

Wherever a backbone is named, ``--spec FILE`` names a network spec instead (``export-spec`` writes one to
start from), and ``--stage-width``/``--stage-depth`` scale each stage on top of ``--width``/``--depth``.
Bad arguments exit with status 2 and one line saying what to change, never a traceback.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from tqdm import tqdm

from core.measurement.job_settings import MAX_BATCH, MAX_CAP_S, MAX_REPEATS, MAX_WARMUP, host_cores
from core.network.counting import DTYPE_BYTES, resolve_config
from core.network.families import BACKBONE_NAMES, resolve
from core.network.profiling import profile
from core.network.scaling import DEFAULT_COMPOUND, CompoundScaling, ScalingError
from core.network.spec import export_spec, load_spec
from core.network.tasks import HEADS, TASKS, check_task
from core.published.recipes import recipe_lines, training_recipe
from core.published.reference import estimate_top1
from core.units import duration_ms, duration_range_ms, si, size_bytes

MAX_SWEEP = 1_000_000
MAX_CLASSES = 100_000
MAX_STAGE_VALUES = 64  # per-stage lists: a spec has at most 32 stages; the engine says how many this one has
MAX_PREDICT_THREADS = 64  # a prediction only looks up a calibration: the app's range, not this host's cores
PHI_RANGE = (-10.0, 10.0)  # beyond it every axis leaves the engine's range anyway
COMPOUND_BASE_RANGE = (1.0, 2.0)
RUNTIMES = ("torch", "onnxruntime")  # as core.measurement.latency.RUNTIMES, which imports torch


class CliError(Exception):
    """Exit 2 with this one-line message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage first; one line is clearer
        raise CliError(f"{self.prog}: {_shown(message)} (see --help)")


def _shown(message: str, limit: int = 40) -> str:
    """argparse's message with what the user typed made one line and cut: control characters escaped,
    any word longer than ``limit`` characters shortened."""
    escaped = "".join(char if char.isprintable() else repr(char)[1:-1] for char in message)
    return " ".join(word if len(word) <= limit else f"{word[:limit]}…" for word in escaped.split(" "))


def _whole(text: str, low: int, high: int, what: str = "") -> int:
    """A whole number written in ASCII digits, from ``low`` to ``high`` (``what`` says where the bound comes from)."""
    stripped = text.strip()
    if not (stripped.isascii() and stripped.lstrip("+-").isdigit()) or len(stripped) > 12:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number from {low:,} to {high:,}")
    value = int(stripped)
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{value:,} is out of range: use {low:,} to {high:,}{what}")
    return value


def _bounded_int(low: int, high: int, what: str = ""):
    return lambda text: _whole(text, low, high, what)


_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def _number(text: str) -> float:
    """A finite decimal number in ASCII ('nan', 'inf', '1e400', '1_000', '0x10' and booleans are refused)."""
    if not _DECIMAL.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a finite number")
    return value


def _bounded(low: float, high: float, what: str = ""):
    """A finite number from ``low`` to ``high``."""
    def parse(text: str) -> float:
        value = _number(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value:g} is out of range: use {low:g} to {high:g}{what}")
        return value
    return parse


def _resolution(text: str) -> int | tuple[int, int]:
    """'224' -> 224; '480x640' -> (480, 640)."""
    parts = text.lower().split("x")
    if len(parts) > 2 or not all(part.isascii() and part.isdigit() and len(part) <= 6 for part in parts):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number of pixels or HEIGHTxWIDTH")
    sides = [int(part) for part in parts]
    return sides[0] if len(sides) == 1 else (sides[0], sides[1])


def _threads(text: str) -> int:
    return _whole(text, 1, host_cores(), " (this host's cores: more threads only oversubscribe them)")


def _stage_list(text: str) -> list[float]:
    """'1,1,1.5,2' -> one multiplier per stage (their count and range are checked against the network)."""
    parts = text.split(",")
    if len(parts) > MAX_STAGE_VALUES:
        raise argparse.ArgumentTypeError(f"{len(parts):,} values: a network has at most 32 stages, one value each")
    return [_number(part) for part in parts]


def _backbone(text: str) -> str:
    if text not in BACKBONE_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown backbone {text[:40]!r}; choose from: {', '.join(BACKBONE_NAMES)}")
    return text


@dataclass(frozen=True)
class Steps(Sequence):
    """start, start + step, ... (``count`` values), computed on demand: a huge range costs nothing to count."""

    start: float
    step: float
    count: int
    kind: type = float

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self.kind(round(self.start + index * self.step, 10))


def _values(text: str, kind=float) -> Sequence:
    """'0.5' -> [0.5]; '0.5,1,2' -> a list; '0.5:2:0.25' -> start to stop inclusive by step."""
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise argparse.ArgumentTypeError(f"range {text[:40]!r} must be start:stop:step")
        start, stop, step = (_number(part) for part in parts)
        if not (step > 0 and stop >= start):
            raise argparse.ArgumentTypeError(f"range {text[:40]!r} needs start <= stop and a positive step")
        ratio = (stop - start) / step
        count = math.floor(ratio + 1e-9) + 1 if math.isfinite(ratio) else math.inf
        if count > MAX_SWEEP:
            raise argparse.ArgumentTypeError(f"range {text[:40]!r} has {count:.3g} values, above the sweep limit of "
                                             f"{MAX_SWEEP:,}: take a larger step")
        values = Steps(start, step, int(count), kind)
        whole = start == int(start) and step == int(step)
    else:
        values = [_number(part) for part in text.split(",")]
        whole = all(value == int(value) for value in values)
    if kind is int:
        if not whole:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} must be whole numbers of pixels")
        if isinstance(values, list):
            values = [int(value) for value in values]
    return values


def _network_args(parser: argparse.ArgumentParser) -> None:
    """The network: a backbone by name, or ``--spec``; per-stage multipliers on top of either."""
    parser.add_argument("backbone", type=_backbone, nargs="?", help="base or preset name (see 'list'); "
                        "not with --spec")
    parser.add_argument("--spec", metavar="FILE", help="a network spec (JSON, as 'export-spec' writes it) instead "
                        "of a backbone name")
    parser.add_argument("--stage-width", type=_stage_list, metavar="W1,W2,...",
                        help="one width multiplier per stage, 0.25-3, on top of --width")
    parser.add_argument("--stage-depth", type=_stage_list, metavar="D1,D2,...",
                        help="one depth multiplier per stage, 0.25-3, on top of --depth")


def _config_args(parser: argparse.ArgumentParser, network: bool = True) -> None:
    if network:
        _network_args(parser)
    else:
        parser.add_argument("backbone", type=_backbone, help="base or preset name (see 'list')")
    parser.add_argument("--width", type=_number, help="width multiplier, 0.1-3.0 (default: the preset's)")
    parser.add_argument("--depth", type=_number, help="depth multiplier, 0.1-4.0 (default: the preset's)")
    parser.add_argument("--resolution", type=_resolution,
                        help="input side in px, 32-1024, or HEIGHTxWIDTH (default: the preset's; 520 for "
                             "segmentation, 800 for detection)")
    parser.add_argument("--phi", type=_bounded(*PHI_RANGE),
                        help=f"compound coefficient, {PHI_RANGE[0]:g} to {PHI_RANGE[1]:g}: sets width, depth and "
                             "resolution")
    alpha, beta, gamma = DEFAULT_COMPOUND
    base = _bounded(*COMPOUND_BASE_RANGE)
    parser.add_argument("--alpha", type=base, default=alpha, help=f"compound depth base (default {alpha})")
    parser.add_argument("--beta", type=base, default=beta, help=f"compound width base (default {beta})")
    parser.add_argument("--gamma", type=base, default=gamma, help=f"compound resolution base (default {gamma})")
    parser.add_argument("--classes", type=_bounded_int(1, MAX_CLASSES),
                        help="classes (default 1000; 21 for segmentation)")
    _task_args(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _task_args(parser: argparse.ArgumentParser) -> None:
    heads = sorted({head for names in HEADS.values() for head in names})
    parser.add_argument("--task", choices=TASKS, default="classification",
                        help="classification (default), segmentation or detection (backbone + FPN)")
    parser.add_argument("--head", choices=heads, help="segmentation: fcn, deeplabv3 (default), lraspp; detection: fpn")


def _config(args) -> tuple:
    if args.phi is None:
        return args.width, args.depth, args.resolution
    if any(value is not None for value in (args.width, args.depth, args.resolution)):
        raise CliError("give either --phi or --width/--depth/--resolution, not both")
    compound = CompoundScaling(args.phi, args.alpha, args.beta, args.gamma)
    return compound.config(resolve(args.backbone)[0].default_resolution)


def _network(args) -> None:
    """Make ``args.backbone`` the network's name: ``--spec`` is loaded (a bad one is one line, exit 2) and
    registered under its ``custom-<digest>`` name, which every later call finds in this process."""
    spec = getattr(args, "spec", None)
    args.title = None
    if spec is not None:
        if args.backbone is not None:
            raise CliError(f"give a backbone or --spec, not both ({args.backbone} and a spec)")
        arch = resolve(load_spec(spec))[0]  # resolving a loaded architecture registers it
        args.backbone, args.title = arch.name, _shown(arch.title, 80)
    elif args.backbone is None:
        raise CliError(f"{args.command}: give a backbone (see 'list') or --spec FILE")


def _stages(args) -> dict:
    """The per-stage multipliers for the engine (absent: None)."""
    return {"stage_width": getattr(args, "stage_width", None), "stage_depth": getattr(args, "stage_depth", None)}


def _named(args, cost) -> str:
    """The network as the output names it: its name, a spec's title, a per-stage network's own name."""
    name = args.backbone if args.title is None else f"{args.title} ({args.backbone})"
    return name if cost.backbone == args.backbone else f"{name} per stage ({cost.backbone})"


def _per_stage_line(cost) -> str | None:
    parts = [f"{axis} {', '.join(f'{value:g}' for value in values)}"
             for axis, values in (("width", cost.stage_width), ("depth", cost.stage_depth)) if values]
    return f"  per stage     {'; '.join(parts)}" if parts else None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="Channel Scaling Lab engine. "
                     "MACs = multiply-accumulates of conv and linear layers; FLOPs = 2 x MACs.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("list", help="backbone and preset names")
    cost = commands.add_parser("profile", help="params, MACs, memory and the per-layer table")
    _config_args(cost)
    cost.add_argument("--dtype", choices=list(DTYPE_BYTES), default="float32", help="activation dtype")
    cost.add_argument("--batch", type=_bounded_int(1, MAX_BATCH), default=1, help="batch size for activation memory")
    cost.add_argument("--no-layers", action="store_true", help="summary only")
    sweep = commands.add_parser("sweep", help="profile a grid of configurations to CSV")
    _network_args(sweep)
    sweep.add_argument("--width", type=_values, default=[1.0], help="value, list a,b or range start:stop:step")
    sweep.add_argument("--depth", type=_values, default=[1.0], help="value, list a,b or range start:stop:step")
    sweep.add_argument("--resolution", type=lambda text: _values(text, int), default=None,
                       help="pixels: value, list or range (default: the backbone's)")
    sweep.add_argument("--output", "-o", help="CSV file (default: standard output)")
    # a recipe is published for built-in networks only: no --spec or per-stage multipliers
    _config_args(commands.add_parser("recipe", help="the reference recipe's regularization, each value sourced"),
                 network=False)
    _task_args(sweep)
    check = commands.add_parser("ptflops", help="ptflops' count beside the engine's, the difference itemised")
    _config_args(check)
    timing = commands.add_parser("latency", help="measure real forward latency")
    _config_args(timing)
    timing.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    timing.add_argument("--batch", type=_bounded_int(1, MAX_BATCH), default=1)
    timing.add_argument("--runtime", choices=RUNTIMES, default="torch",
                        help="torch (eager) or onnxruntime (exported to ONNX, cached; int8 by static quantization)")
    timing.add_argument("--dtype", choices=list(DTYPE_BYTES), default="float32",
                        help="torch: float32, bfloat16, float16 (GPU); onnxruntime: float32 or int8")
    timing.add_argument("--channels-last", action="store_true", help="torch only")
    timing.add_argument("--threads", type=_threads, help=f"CPU threads, at most this host's cores "
                        f"({host_cores()}) (default: torch's)")
    timing.add_argument("--warmup", type=_bounded_int(0, MAX_WARMUP), default=3)
    timing.add_argument("--repeats", type=_bounded_int(1, MAX_REPEATS), default=20)
    timing.add_argument("--cap", type=_bounded(0.001, MAX_CAP_S, " seconds"),
                        help="wall-clock cap in seconds for building, warm-up and timing (default 30, or "
                             "$CSL_LATENCY_CAP_S; at most an hour); runs that cannot fit are refused")
    timing.add_argument("--memory-limit-mb", type=_bounded_int(64, 2 ** 30),
                        help="refuse runs whose process is estimated above this many MB (default 2048)")
    _prediction_commands(commands)
    export = commands.add_parser("export-spec", help="a network's spec as JSON, to edit and load with --spec")
    _network_args(export)
    export.add_argument("--output", "-o", help="JSON file (default: standard output)")
    return parser


def _task(args) -> dict:
    """The task keywords for the engine; a combination that does not exist exits 2 naming those that do."""
    return {"task": args.task, "head": check_task(args.backbone, args.task, args.head)}


def _prediction_commands(commands) -> None:
    from core.prediction.latency_model import DEFAULT_BUDGET_S, RUNTIMES
    from core.prediction.roofline import device_names

    predict = commands.add_parser("predict", help="predicted latency: this host's calibrated model, or a "
                                  "roofline lower bound on another device")
    _config_args(predict)
    predict.add_argument("--batch", type=_bounded_int(1, MAX_BATCH), default=1)
    predict.add_argument("--dtype", choices=list(DTYPE_BYTES), default="float32")
    predict.add_argument("--runtime", choices=RUNTIMES, default="torch")
    predict.add_argument("--device", choices=device_names(), default="host",
                         help="host (calibrated model) or a device of assets/devices/devices.csv (roofline bound)")
    predict.add_argument("--threads", type=_bounded_int(1, MAX_PREDICT_THREADS, " (the app's range)"),
                         help="threads the host calibration used (default: all cores)")
    predict.add_argument("--no-layers", action="store_true", help="summary only")
    calibrate = commands.add_parser("calibrate", help="fit this host's latency model for a runtime (times real "
                                    "networks; cached per host and library versions)")
    calibrate.add_argument("--runtime", choices=RUNTIMES, default="torch")
    calibrate.add_argument("--dtype", choices=list(DTYPE_BYTES), default="float32")
    calibrate.add_argument("--threads", type=_threads, help="threads to time with (default: all cores)")
    calibrate.add_argument("--budget", type=_bounded(1, MAX_CAP_S, " seconds"), default=DEFAULT_BUDGET_S,
                           help=f"seconds of timing at most (default {DEFAULT_BUDGET_S:g})")
    calibrate.add_argument("--force", action="store_true", help="calibrate again even if a cached fit exists")
    calibrate.add_argument("--queue", action="store_true",
                           help="queue it for the latency worker (after any queued measurement) instead of running "
                                "it here; deploy/start.sh does this on first start")


def _print_profile(args) -> None:
    width, depth, resolution = _config(args)
    cost = profile(args.backbone, width, depth, resolution, num_classes=args.classes,
                   batch=args.batch, dtype=args.dtype, **_task(args), **_stages(args))
    custom = resolve(cost.base)[0].custom  # a spec's or a per-stage network: no published figure or recipe
    accuracy = estimate_top1(cost.backbone, cost.width, cost.depth, cost.resolution, task=cost.task,
                             num_classes=cost.num_classes)
    if args.json:
        # The recipes are ImageNet classification recipes of published networks: a dense or custom model gets
        # none rather than a borrowed one.
        recipe = (training_recipe(args.backbone, cost.width, cost.depth, cost.resolution).as_dict()
                  if cost.task == "classification" and not custom else None)
        print(json.dumps({**cost.summary(), "top1": asdict(accuracy), "training_recipe": recipe}))
        return
    task = "" if cost.task == "classification" else f", {cost.task} with {cost.head}"
    size = f"{cost.resolution[0]}x{cost.resolution[1]}" if isinstance(cost.resolution, tuple) else cost.resolution
    base = "" if custom else f" (base {cost.base})"
    print(f"{_named(args, cost)}{base}: width {cost.width:g}, depth {cost.depth:g}, "
          f"{size} px, {cost.num_classes} classes{task}")
    if _per_stage_line(cost):
        print(_per_stage_line(cost))
    print(f"  params        {cost.params:>16,}  ({si(cost.params)})")
    print(f"  MACs          {cost.macs:>16,}  ({si(cost.macs)}; conv + linear multiply-accumulates)")
    print(f"  FLOPs         {cost.flops:>16,}  ({si(cost.flops)}; = 2 x MACs)")
    print(f"  activations   {size_bytes(cost.activation_bytes):>16}  (sum of layer outputs, "
          f"{cost.dtype}, batch {cost.batch}; peak estimate {size_bytes(cost.peak_activation_bytes)})")
    weights = ", ".join(f"{name} {size_bytes(value)}" for name, value in cost.weight_bytes.items())
    print(f"  weights       {weights}")
    kind = "published" if accuracy.published else "no estimate" if accuracy.top1 is None else "estimate"
    print(f"  top-1         {accuracy.text():>16}  ({kind}: {accuracy.basis})")
    if cost.task != "classification":
        for part, total in cost.parts().items():
            print(f"  {part:<13} {total['params']:>16,} params  {total['macs']:>16,} MACs")
    if not args.no_layers:
        print()
        print(cost.layers.to_string(index=False))


def _progress_bar(total: int, unit: str) -> tqdm:
    """Progress on a terminal only: a redirected stderr stays quiet."""
    return tqdm(total=total, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)


def _sweep(args) -> None:
    task, stages = _task(args), _stages(args)
    resolutions = args.resolution
    if resolutions is None:
        resolutions = [profile(args.backbone, **task, **stages).resolution]
    axes = {"width": args.width, "depth": args.depth, "resolution": resolutions}
    count = math.prod(len(values) for values in axes.values())
    if count > MAX_SWEEP:
        sizes = ", ".join(f"{name} {len(values):,}" for name, values in axes.items())
        raise CliError(f"the sweep has {count:,} configurations ({sizes} values), above the limit of "
                       f"{MAX_SWEEP:,}: narrow a range or take a larger step")
    grid = itertools.product(*axes.values())
    for width, depth, resolution in grid:  # validate everything before writing anything
        resolve_config(args.backbone, width, depth, resolution, **stages)
    try:
        handle = open(args.output, "w", newline="") if args.output else sys.stdout
    except OSError as error:
        raise CliError(f"cannot write {args.output!r}: {error.strerror}") from None
    columns = ["backbone", "task", "head", "width", "depth", "resolution", "params", "macs", "flops",
               "activation_bytes", "peak_activation_bytes"]
    writer = csv.writer(handle)
    writer.writerow(columns)
    try:
        with _progress_bar(count, "config") as bar:
            for width, depth, resolution in itertools.product(*axes.values()):
                summary = profile(args.backbone, width, depth, resolution, **task, **stages).summary()
                writer.writerow([summary[column] for column in columns])
                bar.update()
    finally:
        if args.output:
            handle.close()


def _latency(args) -> None:
    from core.measurement.latency import measure_latency

    width, depth, resolution = _config(args)
    with _progress_bar(args.warmup + args.repeats, "pass") as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        result = measure_latency(
            args.backbone, width, depth, resolution, device=args.device, batch=args.batch,
            dtype=args.dtype, channels_last=args.channels_last, warmup=args.warmup,
            repeats=args.repeats, cap_s=args.cap, threads=args.threads,
            memory_limit_mb=args.memory_limit_mb, progress=progress, runtime=args.runtime, **_task(args),
            **_stages(args))
    if args.json:
        print(json.dumps(result.as_dict()))
        return
    threads = f"{result.threads} thread{'s' if result.threads > 1 else ''}"
    runtime = "torch" if result.runtime == "torch" else f"onnxruntime {result.onnxruntime_version}"
    print(f"{_named(args, result)}: width {result.width:g}, depth {result.depth:g}, {result.resolution} px, "
          f"batch {result.batch}, {result.dtype}, {result.device} ({threads}), {runtime}")
    if _per_stage_line(result):
        print(_per_stage_line(result))
    print(f"  median {duration_ms(result.median_ms)}  (p10-p90 {duration_range_ms(result.p10_ms, result.p90_ms)}; "
          f"{result.runs} runs after {result.warmup} warm-up, {result.wall_s:.1f} s in all)  "
          f"{result.images_per_s:,.1f} images/s")
    if result.runtime == "onnxruntime":
        made = "found in the cache" if result.prepared_cached else "made by this run"
        quantized = f", quantization {result.quantize_s:.1f} s" if result.dtype == "int8" else ""
        print(f"  ONNX file {size_bytes(result.model_file_bytes)}"
              + (f" (fp32 {size_bytes(result.fp32_file_bytes)}, "
                 f"x{result.fp32_file_bytes / result.model_file_bytes:.2f} smaller)" if result.dtype == "int8" else "")
              + f"; {made}: export {result.export_s:.1f} s{quantized}")
    if result.note:
        print(f"  note: {result.note}")
    if result.host_busy:
        print(f"  note: other processes used about {result.other_load_cores:g} cores meanwhile; "
              "the figure is noisy", file=sys.stderr)


def _ptflops(args) -> None:
    from core.measurement.ptflops_check import cross_check

    if args.task != "classification" or isinstance(args.resolution, tuple):
        raise CliError("the ptflops cross-check covers square classifiers only: drop --task/--head and HxW")
    width, depth, resolution = _config(args)
    result = cross_check(args.backbone, width, depth, resolution, **_stages(args))
    if args.json:
        print(json.dumps(result))
        return
    name = args.backbone if args.title is None else f"{args.title} ({args.backbone})"
    if result["backbone"] != args.backbone:
        name += f" per stage ({result['backbone']})"
    print(f"{name}: width {result['width']:g}, depth {result['depth']:g}, {result['resolution']} px")
    for part, value in result["breakdown"].items():
        print(f"  {part:<75} {value:>16,}")
    verdict = "equals" if result["explained"] else "DOES NOT equal"
    print(f"  ptflops reported {result['ptflops_ops']:,}; the itemised prediction {verdict} it")


def _predict(args) -> None:
    from core.prediction.latency_model import predict_from_profile

    width, depth, resolution = _config(args)
    cost = profile(args.backbone, width, depth, resolution, num_classes=args.classes, batch=args.batch,
                   dtype=args.dtype, **_task(args), **_stages(args))
    result = predict_from_profile(cost, args.runtime, args.device, args.threads)
    if args.json:
        print(json.dumps({**result.summary(), "layers": result.layers.to_dict(orient="records")}))
        return
    print(f"{_named(args, cost)}: width {cost.width:g}, depth {cost.depth:g}, {cost.resolution} px, "
          f"batch {cost.batch}, {cost.dtype}, {args.runtime} on {args.device}")
    if _per_stage_line(cost):
        print(_per_stage_line(cost))
    print(f"  {result.method}: {duration_ms(result.total_ms)} per batch")
    print(f"  basis: {result.basis}")
    print(f"  roofline lower bound {duration_ms(result.bound_ms)}; channels padded to {result.lanes} lanes waste "
          f"{result.lane_waste:.1%} of the padded MACs")
    if not args.no_layers:
        print()
        print(result.layers.to_string(index=False, float_format=lambda value: f"{value:.4g}"))


def _export_spec(args) -> None:
    """The network's spec, per-stage multipliers written into its stage table."""
    stages = _stages(args)
    network = args.backbone
    if any(values is not None for values in stages.values()):
        network = resolve_config(args.backbone, **stages)[0]
    text = json.dumps(export_spec(network), indent=1)
    if not args.output:
        print(text)
        return
    try:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    except OSError as error:
        raise CliError(f"cannot write {_shown(args.output)!r}: {error.strerror}") from None


def _calibrate(args) -> None:
    from core.prediction.calibration import calibrate
    from core.prediction.latency_model import check_runtime, default_threads

    check_runtime(args.runtime, args.dtype)
    if args.queue:
        from core.measurement.jobs import LatencyQueue, QueueFull, StoreUnavailable

        queue = LatencyQueue()
        settings = {"task": "calibrate", "runtime": args.runtime, "dtype": args.dtype,
                    "threads": args.threads or default_threads()}
        try:
            job = queue.submit(settings, "command line")
            queue.ensure_worker()
        except (StoreUnavailable, QueueFull) as error:
            raise CliError(str(error)) from None
        print(f"calibration of {args.runtime} {args.dtype} ({settings['threads']} thread(s)): job {job.id}, "
              f"{job.status}")
        return
    with _progress_bar(48, "network") as bar:
        result = calibrate(args.runtime, args.dtype, args.threads, budget_s=args.budget, force=args.force,
                           progress=lambda done, total: bar.update(done - bar.n))
    used = sum(sample["used"] for sample in result.samples)
    print(f"calibrated {args.runtime} ({args.dtype}, {result.key['threads']} thread(s)) from "
          f"{result.kernel_samples:,} profiled layer timings of {len(result.samples)} networks ({used} used by the "
          f"network fit) in {result.seconds:.0f} s; median fit error {result.fit_error:.1%}; "
          f"this host: {result.peak_flops / 1e9:,.0f} GFLOP/s peak, {result.bandwidth / 1e9:,.1f} GB/s")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command not in ("list", "calibrate"):
            _network(args)
        if args.command == "list":
            for name in BACKBONE_NAMES:
                print(name)
        elif args.command == "profile":
            _print_profile(args)
        elif args.command == "sweep":
            _sweep(args)
        elif args.command == "recipe":
            recipe = training_recipe(args.backbone, *_config(args))
            print(json.dumps(recipe.as_dict()) if args.json else "\n".join(recipe_lines(recipe)))
        elif args.command == "ptflops":
            _ptflops(args)
        elif args.command == "predict":
            _predict(args)
        elif args.command == "calibrate":
            _calibrate(args)
        elif args.command == "export-spec":
            _export_spec(args)
        else:
            _latency(args)
    except (CliError, ScalingError) as error:
        print(f"error: {_shown(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0
