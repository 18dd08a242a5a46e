"""``python -m core``: list, profile, sweep and latency from the shell.

Bad arguments exit with status 2 and one line saying what to change, never a traceback.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import sys
import time

from core.counting import DTYPE_BYTES, profile
from core.families import BACKBONE_NAMES, resolve
from core.scaling import DEFAULT_COMPOUND, CompoundScaling, ScalingError
from core.units import si, size_bytes

MAX_SWEEP = 100_000


class CliError(Exception):
    """Exit 2 with this one-line message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage first; one line is clearer
        raise CliError(f"{self.prog}: {message} (see --help)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _backbone(text: str) -> str:
    if text not in BACKBONE_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown backbone {text!r}; choose from: {', '.join(BACKBONE_NAMES)}")
    return text


def _values(text: str, kind=float) -> list:
    """'0.5' -> [0.5]; '0.5,1,2' -> a list; '0.5:2:0.25' -> start to stop inclusive by step."""
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if step <= 0 or stop < start:
                raise argparse.ArgumentTypeError(f"range {text!r} needs start <= stop and a positive step")
            count = int(math.floor((stop - start) / step + 1e-9)) + 1
            values = [round(start + index * step, 10) for index in range(count)]
        else:
            values = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number, a list a,b,c or a range start:stop:step") from None
    if kind is int:
        if any(value != int(value) for value in values):
            raise argparse.ArgumentTypeError(f"{text!r} must be whole numbers of pixels")
        values = [int(value) for value in values]
    return values


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backbone", type=_backbone, help="base or preset name (see 'list')")
    parser.add_argument("--width", type=float, help="width multiplier, 0.1-3.0 (default: the preset's)")
    parser.add_argument("--depth", type=float, help="depth multiplier, 0.1-4.0 (default: the preset's)")
    parser.add_argument("--resolution", type=int, help="input side in px, 32-1024 (default: the preset's)")
    parser.add_argument("--phi", type=float, help="compound coefficient: sets width, depth and resolution")
    alpha, beta, gamma = DEFAULT_COMPOUND
    parser.add_argument("--alpha", type=float, default=alpha, help=f"compound depth base (default {alpha})")
    parser.add_argument("--beta", type=float, default=beta, help=f"compound width base (default {beta})")
    parser.add_argument("--gamma", type=float, default=gamma, help=f"compound resolution base (default {gamma})")
    parser.add_argument("--classes", type=_positive_int, default=1000, help="classifier outputs (default 1000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _config(args) -> tuple:
    if args.phi is None:
        return args.width, args.depth, args.resolution
    if any(value is not None for value in (args.width, args.depth, args.resolution)):
        raise CliError("give either --phi or --width/--depth/--resolution, not both")
    compound = CompoundScaling(args.phi, args.alpha, args.beta, args.gamma)
    return compound.config(resolve(args.backbone)[0].default_resolution)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="Channel Scaling Lab engine. "
                     "MACs = multiply-accumulates of conv and linear layers; FLOPs = 2 x MACs.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("list", help="backbone and preset names")
    cost = commands.add_parser("profile", help="params, MACs, memory and the per-layer table")
    _config_args(cost)
    cost.add_argument("--dtype", choices=list(DTYPE_BYTES), default="float32", help="activation dtype")
    cost.add_argument("--batch", type=_positive_int, default=1, help="batch size for activation memory")
    cost.add_argument("--no-layers", action="store_true", help="summary only")
    sweep = commands.add_parser("sweep", help="profile a grid of configurations to CSV")
    sweep.add_argument("backbone", type=_backbone)
    sweep.add_argument("--width", type=_values, default=[1.0], help="value, list a,b or range start:stop:step")
    sweep.add_argument("--depth", type=_values, default=[1.0], help="value, list a,b or range start:stop:step")
    sweep.add_argument("--resolution", type=lambda text: _values(text, int), default=None,
                       help="pixels: value, list or range (default: the backbone's)")
    sweep.add_argument("--output", "-o", help="CSV file (default: standard output)")
    timing = commands.add_parser("latency", help="measure real forward latency")
    _config_args(timing)
    timing.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    timing.add_argument("--batch", type=_positive_int, default=1)
    timing.add_argument("--dtype", default="float32", help="float32, bfloat16 or float16 (GPU)")
    timing.add_argument("--channels-last", action="store_true")
    timing.add_argument("--threads", type=_positive_int, help="CPU threads (default: torch's)")
    timing.add_argument("--warmup", type=int, default=3)
    timing.add_argument("--repeats", type=_positive_int, default=20)
    timing.add_argument("--time-budget", type=float, default=30.0, help="seconds, stops repeats early")
    timing.add_argument("--memory-limit-mb", type=_positive_int, help="refuse runs estimated above this")
    return parser


def _print_profile(args) -> None:
    width, depth, resolution = _config(args)
    cost = profile(args.backbone, width, depth, resolution, num_classes=args.classes,
                   batch=args.batch, dtype=args.dtype)
    if args.json:
        print(json.dumps(cost.summary()))
        return
    print(f"{args.backbone} (base {cost.base}): width {cost.width:g}, depth {cost.depth:g}, "
          f"{cost.resolution} px, {cost.num_classes} classes")
    print(f"  params        {cost.params:>16,}  ({si(cost.params)})")
    print(f"  MACs          {cost.macs:>16,}  ({si(cost.macs)}; conv + linear multiply-accumulates)")
    print(f"  FLOPs         {cost.flops:>16,}  ({si(cost.flops)}; = 2 x MACs)")
    print(f"  activations   {size_bytes(cost.activation_bytes):>16}  (sum of layer outputs, "
          f"{cost.dtype}, batch {cost.batch}; peak estimate {size_bytes(cost.peak_activation_bytes)})")
    weights = ", ".join(f"{name} {size_bytes(value)}" for name, value in cost.weight_bytes.items())
    print(f"  weights       {weights}")
    if not args.no_layers:
        print()
        print(cost.layers.to_string(index=False))


def _sweep(args) -> None:
    resolutions = args.resolution
    if resolutions is None:
        resolutions = [profile(args.backbone).resolution]
    grid = list(itertools.product(args.width, args.depth, resolutions))
    if len(grid) > MAX_SWEEP:
        raise CliError(f"the grid has {len(grid):,} configurations; narrow the ranges to at most {MAX_SWEEP:,}")
    for width, depth, resolution in grid:  # validate everything before writing anything
        profile(args.backbone, width, depth, resolution)
    handle = open(args.output, "w", newline="") if args.output else sys.stdout
    columns = ["backbone", "width", "depth", "resolution", "params", "macs", "flops",
               "activation_bytes", "peak_activation_bytes"]
    writer = csv.writer(handle)
    writer.writerow(columns)
    started = time.perf_counter()
    try:
        for index, (width, depth, resolution) in enumerate(grid, start=1):
            summary = profile(args.backbone, width, depth, resolution).summary()
            writer.writerow([summary[column] for column in columns])
            if index % 50 == 0 or index == len(grid):
                _progress(index, len(grid), started, "configurations")
    finally:
        if args.output:
            handle.close()
    print(file=sys.stderr)


def _progress(done: int, total: int, started: float, label: str) -> None:
    filled = round(30 * done / total)
    print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} {label}, "
          f"{time.perf_counter() - started:.1f} s", end="", file=sys.stderr, flush=True)


def _latency(args) -> None:
    from core.latency import measure_latency

    width, depth, resolution = _config(args)
    started = time.perf_counter()
    result = measure_latency(
        args.backbone, width, depth, resolution, device=args.device, batch=args.batch,
        dtype=args.dtype, channels_last=args.channels_last, warmup=args.warmup,
        repeats=args.repeats, time_budget_s=args.time_budget, threads=args.threads,
        memory_limit_mb=args.memory_limit_mb,
        progress=None if args.json else lambda done, total: _progress(done, total, started, "forward passes"))
    if args.json:
        print(json.dumps(result.as_dict()))
        return
    print(file=sys.stderr)
    print(f"{result.backbone}: width {result.width:g}, depth {result.depth:g}, {result.resolution} px, "
          f"batch {result.batch}, {result.dtype}, {result.device} ({result.threads} threads)")
    print(f"  median {result.median_ms:.2f} ms  (p10 {result.p10_ms:.2f}, p90 {result.p90_ms:.2f}; "
          f"{result.runs} runs after {result.warmup} warm-up)  {result.images_per_s:.1f} images/s")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            for name in BACKBONE_NAMES:
                print(name)
        elif args.command == "profile":
            _print_profile(args)
        elif args.command == "sweep":
            _sweep(args)
        else:
            _latency(args)
    except (CliError, ScalingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0
