"""Peak memory of each kind of latency job against the guard's estimate (core.measurement.memory), and against the
obvious alternative the guard used before: weights plus twice the largest layer's input and output.

Each configuration runs in a fresh process that imports what the worker's measuring child imports; its
peak RSS (VmHWM from /proc, reset after the imports) is the job's, the baseline its RSS before. A fresh ONNX
cache per run, so onnxruntime figures include exporting (and, for int8, quantizing).

    python bench/bench_memory.py            # 5 configurations x 4 kinds, about 3 minutes on 2 cores
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONFIGS = [("mobilenet_v2", 1, 224), ("mobilenet_v2", 64, 224), ("resnet50", 32, 224), ("efficientnet_b0", 16, 320),
           ("efficientnet_b4", 4, 380)]
KINDS = [("torch", "torch", "float32"), ("onnxruntime fp32", "onnxruntime", "float32"),
         ("onnxruntime int8", "onnxruntime", "int8"), ("ptflops", None, None)]

CHILD = """
import json, os, sys
sys.path.insert(0, {root!r})
from core.measurement.memory import peak_rss_mb, reset_peak_rss, rss_mb
import torch, onnxruntime  # what the worker's child holds before its first job
import core.measurement.latency, core.measurement.onnx_runtime, core.measurement.ptflops_check
settings = json.loads(sys.argv[1])
base = rss_mb()
reset_peak_rss()
if settings.pop("task", None) == "ptflops":
    estimate = core.measurement.ptflops_check.cross_check(**settings, memory_limit_mb=1e9)["estimated_memory_mb"]
else:
    estimate = core.measurement.latency.measure_latency(**settings, memory_limit_mb=1e9).estimated_memory_mb
print(json.dumps({{"base_mb": base, "peak_mb": peak_rss_mb(), "estimate_mb": estimate}}))
"""


def old_estimate_mb(backbone: str, batch: int, resolution: int) -> float:
    """The guard before core.measurement.memory: fp32 weights + 2 x the largest layer input + output
    (no process, no export)."""
    import core
    cost = core.profile(backbone, resolution=resolution, batch=batch)
    return (cost.params * 4 + 2 * cost.peak_activation_bytes) / 2 ** 20


def run(settings: dict) -> dict:
    data = tempfile.mkdtemp(prefix="csl-bench-memory-")
    try:
        result = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), json.dumps(settings)],
                                capture_output=True, text=True, timeout=900,
                                env={**os.environ, "CSL_DATA_DIR": data})
    finally:
        shutil.rmtree(data, ignore_errors=True)
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=len(CONFIGS), help="how many of the configurations")
    args = parser.parse_args()
    print(f"{'kind':18} {'configuration':28} {'peak MB':>8} {'estimate':>9} {'peak/est':>9} {'old est':>8} "
          f"{'peak/old':>9}")
    ratios: dict[str, list[float]] = {}
    for label, runtime, dtype in KINDS:
        for backbone, batch, resolution in CONFIGS[:args.configs]:
            if runtime is None:
                if batch > 16:
                    continue  # ptflops counts one image
                settings = dict(task="ptflops", backbone=backbone, resolution=resolution)
                batch = 1
            else:
                settings = dict(backbone=backbone, batch=batch, resolution=resolution, runtime=runtime, dtype=dtype,
                                warmup=1, repeats=2, threads=min(2, os.cpu_count() or 1), cap_s=600)
            measured = run(settings)
            name = f"{backbone} b{batch} {resolution}px"
            if "error" in measured:
                print(f"{label:18} {name:28} failed: {measured['error']}")
                continue
            old = old_estimate_mb(backbone, batch, resolution)
            job = measured["peak_mb"] - measured["base_mb"]
            ratio = measured["peak_mb"] / measured["estimate_mb"]
            ratios.setdefault(label, []).append(ratio)
            print(f"{label:18} {name:28} {measured['peak_mb']:8.0f} {measured['estimate_mb']:9.0f} {ratio:9.2f} "
                  f"{old:8.0f} {job / old:9.2f}", flush=True)
    print("\npeak/estimate by kind (the guard's own figure, the process's baseline included; within 1.5x is "
          "the target):")
    for label, values in ratios.items():
        print(f"  {label:18} {min(values):.2f} - {max(values):.2f}")
    print("peak/old: what each job added against the old estimate of it (above 1: the old guard let it overrun)")


if __name__ == "__main__":
    main()
