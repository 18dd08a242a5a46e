"""The per-kernel latency model against real measurements on held-out configurations, and the width staircase.

Calibrates each runtime on this host (``core.calibrate``: profiled per-layer timings of 48 small
networks, in a throwaway store unless --keep), then predicts and measures configurations of all
eight backbones whose widths, depths and resolutions the calibration never used, at batch 1 and 8,
as the worker measures them. Prints every pair; the median absolute error and the share within
+-15% per runtime, per backbone and per batch against the targets (median <= 10%, >= 80% within
+-15%); and what a prediction costs against a measurement. Then a fine width sweep of MobileNet V2,
measured and predicted: widths round to multiples of 8, so latency climbs in steps.

    python bench/bench_latency_model.py                     # torch and onnxruntime, about 15 min on 2 cores
    python bench/bench_latency_model.py --runtimes torch --no-sweep
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tqdm import tqdm  # noqa: E402

HELD_OUT_WIDTHS = (0.5, 0.6, 0.85, 1.15)
HELD_OUT_DEPTHS = (0.8, 1.2)
HELD_OUT_RESOLUTIONS = (96, 112, 160)
SWEEP_WIDTHS = [round(0.5 + 0.025 * step, 3) for step in range(21)]


def held_out_configs(per_backbone: int, seed: int = 1) -> list:
    from core import profile
    from core.prediction.latency_model import (
        BACKBONES,
        CALIBRATION_DEPTHS,
        CALIBRATION_RESOLUTIONS,
        CALIBRATION_WIDTHS,
        MAX_CALIBRATION_MACS,
        Config,
    )

    assert not set(HELD_OUT_WIDTHS) & set(CALIBRATION_WIDTHS)
    assert not set(HELD_OUT_DEPTHS) & set(CALIBRATION_DEPTHS)
    assert not set(HELD_OUT_RESOLUTIONS) & set(CALIBRATION_RESOLUTIONS)
    rng = random.Random(seed)
    configs = []
    for backbone in BACKBONES:
        grid = [(w, d, r) for w in HELD_OUT_WIDTHS for d in HELD_OUT_DEPTHS for r in HELD_OUT_RESOLUTIONS]
        rng.shuffle(grid)
        chosen = []
        for width, depth, resolution in grid:
            batch = (1, 8)[len(chosen) % 2]
            if profile(backbone, width, depth, resolution).macs * batch <= MAX_CALIBRATION_MACS:
                chosen.append(Config(backbone, width, depth, resolution, batch))
            if len(chosen) == per_backbone:
                break
        configs.extend(chosen)
    return configs


def _progress(total: int, unit: str) -> tqdm:
    return tqdm(total=total, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)


def prediction_cost_s(config, runtime: str, threads: int, rounds: int = 50) -> tuple[float, float]:
    """(median seconds of predict_latency, of predict_from_profile on a ready profile)."""
    from core import profile
    from core.prediction.latency_model import predict_from_profile, predict_latency

    whole, cached = [], []
    cost = profile(config.backbone, config.width, config.depth, config.resolution, batch=config.batch)
    for _ in range(rounds):
        start = time.perf_counter()
        predict_latency(config.backbone, config.width, config.depth, config.resolution, batch=config.batch,
                        runtime=runtime, threads=threads)
        whole.append(time.perf_counter() - start)
        start = time.perf_counter()
        predict_from_profile(cost, runtime, threads=threads)
        cached.append(time.perf_counter() - start)
    return statistics.median(whole), statistics.median(cached)


def check_runtime(runtime: str, configs: list, threads: int, rounds: int = 2) -> list[dict]:
    """Predict each configuration, then measure the list ``rounds`` times over, keeping each one's fastest."""
    from core.measurement.latency import measure_latency
    from core.prediction.latency_model import REPEATS, predict_latency

    rows = []
    for config in configs:
        predicted = predict_latency(config.backbone, config.width, config.depth, config.resolution,
                                    batch=config.batch, runtime=runtime, threads=threads).total_ms
        whole_s, cached_s = prediction_cost_s(config, runtime, threads)
        rows.append(dict(config=config, predicted=predicted, measured=float("inf"), measure_s=0.0,
                         predict_s=whole_s, predict_cached_s=cached_s, others=0.0))
    with _progress(rounds * len(configs), "timing") as bar:
        for _ in range(rounds):
            for row in rows:
                start, c = time.perf_counter(), row["config"]
                result = measure_latency(c.backbone, c.width, c.depth, c.resolution, batch=c.batch, threads=threads,
                                         warmup=2, repeats=REPEATS, cap_s=60, runtime=runtime)
                row.setdefault("rounds", []).append(result.p10_ms)
                if result.p10_ms < row["measured"]:
                    row["measured"], row["others"] = result.p10_ms, result.other_load_cores or 0.0
                row["measure_s"] += (time.perf_counter() - start) / rounds
                bar.update()
    for row in rows:
        row["error"] = row["predicted"] / row["measured"] - 1
    from core.prediction.latency_model import MEASURED

    print(f"\n{runtime}: {len(rows)} held-out configurations (measured = {MEASURED}, the faster "
          f"of {rounds} rounds, as calibrated)")
    print(f"  {'backbone':<19}{'width':>6}{'depth':>6}{'px':>5}{'batch':>6}{'predicted':>11}{'measured':>10}"
          f"{'error':>8}{'others':>8}")
    for row in rows:
        c = row["config"]
        print(f"  {c.backbone:<19}{c.width:>6g}{c.depth:>6g}{c.resolution:>5}{c.batch:>6}"
              f"{row['predicted']:>9.2f}ms{row['measured']:>8.2f}ms{row['error']:>+8.0%}{row['others']:>8.2f}")
    print("  (others: cores' worth of CPU other processes used during the kept measurement)")
    if rounds > 1:
        # the fastest of the even rounds against the fastest of the odd ones: how far two such values differ
        halves = [sorted((min(row["rounds"][0::2]), min(row["rounds"][1::2]))) for row in rows]
        spread = [slow / fast - 1 for fast, slow in halves]
        print(f"  repeatability: the fastest of rounds 1, 3, ... against the fastest of rounds 2, 4, ...: the "
              f"slower is {statistics.median(spread):.1%} slower (median), "
              f"{sum(value <= WITHIN for value in spread) / len(spread):.0%} within +-{WITHIN:.0%}: "
              "the floor any prediction is measured against")
    return rows


MEDIAN_TARGET, WITHIN, WITHIN_TARGET = 0.10, 0.15, 0.80


def summarize(rows: list[dict], label: str) -> dict:
    errors = [abs(row["error"]) for row in rows]
    within = sum(error <= WITHIN for error in errors) / len(errors)
    return dict(label=label, n=len(rows), median_error=statistics.median(errors), within=within,
                   predict_ms=statistics.median(row["predict_s"] for row in rows) * 1000,
                   predict_cached_ms=statistics.median(row["predict_cached_s"] for row in rows) * 1000,
                   worst_predict_ms=max(row["predict_s"] for row in rows) * 1000,
                   measure_s=statistics.median(row["measure_s"] for row in rows))


def meets(summary: dict) -> str:
    return "yes" if summary["median_error"] <= MEDIAN_TARGET and summary["within"] >= WITHIN_TARGET else "NO"


def print_summary(summaries: list[dict]) -> None:
    print("\n                            configs  median |error|  within +-15%  targets   predict (median, worst)"
          "   from profile   measure   measure / predict")
    for s in summaries:
        print(f"  {s['label']:<25}{s['n']:>8}{s['median_error']:>15.1%}{s['within']:>14.0%}{meets(s):>9}"
              f"{s['predict_ms']:>12.3f} ms {s['worst_predict_ms']:>6.3f} ms{s['predict_cached_ms']:>12.3f} ms"
              f"{s['measure_s']:>8.2f} s{s['measure_s'] * 1000 / s['predict_ms']:>16,.0f}x")
    print(f"  targets: median |error| <= {MEDIAN_TARGET:.0%}, >= {WITHIN_TARGET:.0%} within +-{WITHIN:.0%}, "
          "prediction <= 1 ms")


def breakdown(rows: list[dict], runtime: str) -> list[dict]:
    """The runtime's summary, then one per backbone and one per batch."""
    groups = [(runtime, rows)]
    for backbone in dict.fromkeys(row["config"].backbone for row in rows):
        groups.append((f"  {backbone}", [row for row in rows if row["config"].backbone == backbone]))
    for batch in sorted({row["config"].batch for row in rows}):
        groups.append((f"  batch {batch}", [row for row in rows if row["config"].batch == batch]))
    return [summarize(group, label) for label, group in groups]


def width_sweep(runtime: str, threads: int, resolution: int = 128, rounds: int = 2) -> None:
    from core import profile
    from core.prediction.calibration import measure_ms
    from core.prediction.latency_model import Config, predict_latency

    print(f"\nWidth sweep, mobilenet_v2 at {resolution} px, batch 1, {runtime}, the faster of {rounds} rounds "
          "(widths round to multiples of 8):")
    print(f"  {'width':>6} {'channels':>9} {'MACs':>8} {'measured':>10} {'predicted':>10}")
    measured = {width: float("inf") for width in SWEEP_WIDTHS}
    with _progress(rounds * len(SWEEP_WIDTHS), "timing") as bar:
        for _ in range(rounds):
            for width in SWEEP_WIDTHS:
                config = Config("mobilenet_v2", width, 1.0, resolution)
                measured[width] = min(measured[width], measure_ms(config, runtime, "float32", threads))
                bar.update()
    top = max(measured.values())
    for width in SWEEP_WIDTHS:
        cost = profile("mobilenet_v2", width, 1.0, resolution)
        channels = int(cost.layers.out_channels[cost.layers.type != "residual_add"].sum())
        predicted = predict_latency("mobilenet_v2", width, 1.0, resolution, runtime=runtime, threads=threads).total_ms
        bar = "#" * round(40 * measured[width] / top)
        print(f"  {width:>6.3f} {channels:>9,} {cost.macs / 1e6:>7.1f}M {measured[width]:>8.2f}ms "
              f"{predicted:>8.2f}ms  {bar}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default="torch,onnxruntime")
    parser.add_argument("--per-backbone", type=int, default=4, help="held-out configurations per backbone "
                        "and runtime, batch 1 and 8 in turn (default 4: 32 per runtime)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--budget", type=float, default=400, help="seconds per calibration (default 400; "
                        "onnxruntime's includes every configuration's export)")
    parser.add_argument("--rounds", type=int, default=2, help="calibration rounds, each network's fastest kept "
                        "(default 2; the worker's calibration takes 1 and times a network again while the "
                        "host is busy)")
    parser.add_argument("--held-out-rounds", type=int, default=2, help="times each held-out configuration is "
                        "measured, its fastest kept (default 2; more lowers the measurements' own spread)")
    parser.add_argument("--keep", action="store_true", help="calibrate into the real store (CSL_DATA_DIR)")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--save", type=Path, help="write every held-out pair to this JSON file")
    args = parser.parse_args()
    if not args.keep:
        os.environ["CSL_DATA_DIR"] = tempfile.mkdtemp(prefix="csl-bench-")
    from core.prediction import calibration as calibrating
    from core.prediction.calibration import calibrate
    from core.prediction.latency_model import NETWORK_TERMS, TERMS

    if args.rounds > 1:
        calibrating.RETRIES = 0  # rounds keep each network's fastest instead

    runtimes = args.runtimes.split(",")
    print(f"load average at start: {' '.join(f'{value:.2f}' for value in os.getloadavg())} "
          f"({os.cpu_count()} cores); threads {args.threads}")
    configs = held_out_configs(args.per_backbone)
    summaries, everything = [], []
    for runtime in runtimes:
        with _progress(48, "network") as bar:
            calibration = calibrate(runtime, threads=args.threads, budget_s=args.budget, force=True,
                                    rounds=args.rounds,
                                    progress=lambda done, total: bar.update(done - bar.n))
        used = sum(sample["used"] for sample in calibration.samples)
        print(f"\ncalibrated {runtime} in {calibration.seconds:.0f} s: {calibration.kernel_samples:,} profiled "
              f"layer timings of {len(calibration.samples)} networks ({used} used by the network fit), median "
              f"fit error {calibration.fit_error:.1%}; host peak {calibration.peak_flops / 1e9:.0f} GFLOP/s, "
              f"bandwidth {calibration.bandwidth / 1e9:.1f} GB/s")
        for kind, values in calibration.kernels.items():
            print(f"  {kind:<12}" + "  ".join(f"{term} {value:.3g}" for term, value in zip(TERMS, values)))
        print("  network     " + "  ".join(f"{name} {value:.3g}" for name, value in
                                         zip(NETWORK_TERMS, calibration.network)))
        print("  family factors " + ", ".join(f"{name} {value:.2f}" for name, value in
                                               calibration.family_factors.items()))
        rows = check_runtime(runtime, configs, args.threads, args.held_out_rounds)
        for row in rows:
            row["runtime"] = runtime
        summaries.extend(breakdown(rows, runtime))
        everything.extend(rows)
    if len(runtimes) > 1:
        summaries.append(summarize(everything, "all"))
    if args.save:
        args.save.write_text(json.dumps([{**row, "config": asdict(row["config"])} for row in everything], indent=1))
    print_summary(summaries)
    if not args.no_sweep:
        width_sweep(runtimes[0], args.threads)
    print(f"\nload average at end: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
