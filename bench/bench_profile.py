"""core.profile against the obvious route (build the torch model, count it with ptflops).

Prints, in one run, median times and their ratio for MobileNet V2 at 224 and for
EfficientNet-B7 (efficientnet_b0 at width 2.0, depth 3.1, 600 px), the worst
case the sliders allow, and a 1,000-configuration sweep.

    python bench/bench_profile.py [--repeats N]
"""
from __future__ import annotations

import argparse
import io
import itertools
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import core  # noqa: E402

# ptflops' pytorch backend patches torch functions globally: never run it concurrently.
PTFLOPS_LOCK = threading.Lock()
CASES = [("MobileNet V2 @224", "mobilenet_v2", 1.0, 1.0, 224),
         ("EfficientNet-B7 (w2.0 d3.1 600px)", "efficientnet_b0", 2.0, 3.1, 600)]


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def obvious_route(backbone, width, depth, resolution):
    import ptflops

    with PTFLOPS_LOCK:
        model = core.build_model(backbone, width, depth)
        return ptflops.get_model_complexity_info(model, (3, resolution, resolution), as_strings=False,
                                                 print_per_layer_stat=False, backend="pytorch",
                                                 ost=io.StringIO())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the obvious route")
    args = parser.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(f"{'configuration':36} {'core.profile':>14} {'build+ptflops':>15} {'ratio':>10}")
    for label, *config in CASES:
        ours = median_seconds(lambda config=config: core.profile(*config), 200)
        theirs = median_seconds(lambda config=config: obvious_route(*config), args.repeats)
        print(f"{label:36} {ours * 1e3:11.3f} ms {theirs * 1e3:12.1f} ms {theirs / ours:9,.0f}x")

    worst = median_seconds(lambda: core.profile("efficientnet_b0", 3.0, 4.0, 1024), 200)
    with_table = median_seconds(lambda: core.profile("efficientnet_b0", 3.0, 4.0, 1024).layers, 50)
    print(f"\nworst slider case (efficientnet_b0 w3.0 d4.0 1024px): {worst * 1e3:.3f} ms median "
          f"(target <= 5 ms); with the per-layer DataFrame: {with_table * 1e3:.3f} ms")

    rng = random.Random(0)
    names = sorted(core.ARCHITECTURES)
    configs = [(rng.choice(names), rng.uniform(0.1, 3.0), rng.uniform(0.1, 4.0), rng.randrange(32, 1025))
               for _ in range(1000)]
    start = time.perf_counter()
    for config in configs:
        core.profile(*config)
    sweep = time.perf_counter() - start
    print(f"1,000 random configurations (all backbones, up to w3 d4 1024px): {sweep:.3f} s (target < 5 s)")
    grid = list(itertools.product([0.5, 1.0, 1.5, 2.0], [1.0, 2.0], range(96, 1025, 32)))
    start = time.perf_counter()
    for width, depth, resolution in grid:
        core.profile("efficientnet_b0", width, depth, resolution)
    print(f"{len(grid)}-point EfficientNet grid: {time.perf_counter() - start:.3f} s")


if __name__ == "__main__":
    main()
