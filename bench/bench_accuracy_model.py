"""Leave-one-out error of the fitted accuracy model, per family, against the targets.

Fits every family's scaling model to every published result (``core.published.reference.fit_points``),
then refits without each point in turn and predicts it (at its own training setup's level).
Prints the median and the band (68th percentile) of |error| per family and the fitted
parameters. ``--write`` stores the fit in ``assets/accuracy_model.json``, which the app reads
(``tests/test_accuracy_model.py`` holds the two equal).

    python bench/bench_accuracy_model.py [--write]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import accuracy, reference  # noqa: E402

TARGET_PP = 0.7  # leave-one-out median |error| for these families (issue #16)
TARGET_FAMILIES = ("efficientnet", "mobilenet_v1", "mobilenet_v2", "resnet50")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"store the fit in {reference.MODEL_FILE.name}")
    args = parser.parse_args()
    started = time.perf_counter()
    problem = reference.fit_problem()
    models = accuracy.fit_with_error(problem)
    elapsed = time.perf_counter() - started
    print(f"{'family':<20}{'points':>7}{'scored':>7}{'setups':>7}{'LOO median':>12}{'band (68%)':>12}"
          f"{'worst':>8}  target")
    failed = []
    for name, model in models.items():
        median = model.loo_median()
        worst = max(abs(error) for error in model.loo_errors)
        target = f"<= {TARGET_PP} pp" if name in TARGET_FAMILIES else "(none)"
        if name in TARGET_FAMILIES and median > TARGET_PP:
            failed.append(name)
            target += "  MISSED"
        print(f"{name:<20}{model.points:>7}{len(model.loo_errors):>7}{len(model.setups):>7}"
              f"{median:>10.2f}pp{model.band:>10.2f}pp{worst:>6.2f}pp  {target}")
    print(f"\nfit + {sum(len(m.loo_errors) for m in models.values())} leave-one-out refits: {elapsed:.1f} s")
    print("\nfitted parameters (reference setup's level; c: saturation, b: rate above the base, a: below):")
    for name, model in models.items():
        shape = "  ".join(f"{axis[0]}: c {model.saturation(axis):.3f} b {model.rate(axis):.2f} "
                          f"a {model.rate_below(axis):.2f}" for axis in accuracy.AXES)
        limits = ", ".join(f"{axis} {model.axis_limit(axis):.1f}" for axis in accuracy.AXES)
        print(f"  {name:<19} T_base {model.base_top1:.2f}  T_inf {model.ceiling:.1f}  {shape}")
        print(f"  {'':<19} one axis alone saturates at: {limits}; offsets: "
              + (", ".join(f"{setup} {offset:+.2f}" for setup, offset in model.offsets.items()) or "none"))
    print("\nnot fitted: " + "; ".join(reference.NOT_FITTED))
    if args.write:
        reference.MODEL_FILE.write_text(json.dumps(reference.models_to_json(models), indent=1) + "\n")
        print(f"\nwrote {reference.MODEL_FILE}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
