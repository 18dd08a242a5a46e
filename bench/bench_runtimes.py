"""Eager torch against ONNX Runtime fp32 and int8 (static QDQ) on the same modules, in one run.

MobileNet V2, ResNet-50 and EfficientNet-B0 at batch 1, 224 px, on N threads (default 2):
median latency of each runtime through ``core.measure_latency`` (the median of R rounds that
each time every model and runtime in turn, so a burst of load elsewhere hits one round), the
ratios to eager torch,
what exporting and quantizing took (in a fresh cache, after one throwaway export that pays
torch.onnx's import) and the file sizes. The int8 models are calibrated on random inputs of
untrained weights: their timing and size are real, an accuracy would not be.

    python bench/bench_runtimes.py [--threads 2] [--repeats 30] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = [("MobileNet V2", "mobilenet_v2"), ("ResNet-50", "resnet50"), ("EfficientNet-B0", "efficientnet_b0")]
RUNS = [("eager torch", "torch", "float32"), ("ORT fp32", "onnxruntime", "float32"),
        ("ORT int8", "onnxruntime", "int8")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30, help="timed passes per runtime and round (after 5 warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every model and runtime")
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="bench-runtimes-")
    os.environ["CSL_DATA_DIR"] = cache  # an empty cache: export and quantize for real
    try:
        run(args)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def run(args) -> None:

    import onnxruntime
    import torch

    import core
    from core.measurement import onnx_runtime

    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {args.threads} threads, batch 1, "
          f"224 px; load average before: {os.getloadavg()[0]:.2f}\n")
    torch.set_num_threads(args.threads)
    # torch.onnx's and the quantizer's one-off imports are paid here, not in the first model's times
    onnx_runtime.prepare(core.profile("mobilenet_v2", 0.35, 1.0, 96), "int8")
    made = {backbone: onnx_runtime.prepare(core.profile(backbone), "int8")  # fp32 file first, then int8
            for _, backbone in MODELS}

    busiest, rounds = 0.0, {label: [[] for _ in RUNS] for label, _ in MODELS}
    for _ in range(args.rounds):
        for label, backbone in MODELS:
            for index, (_, runtime, dtype) in enumerate(RUNS):
                result = core.measure_latency(backbone, resolution=224, runtime=runtime, dtype=dtype,
                                              threads=args.threads, warmup=5, repeats=args.repeats, cap_s=300)
                rounds[label][index].append(result.median_ms)
                busiest = max(busiest, result.other_load_cores or 0.0)
    medians = {label: [statistics.median(values) for values in runs] for label, runs in rounds.items()}
    print(f"{'model':16} {'eager torch':>12} {'ORT fp32':>10} {'ORT int8':>10} {'fp32/torch':>11} "
          f"{'int8/torch':>11} {'int8/fp32':>10} {'export':>8} {'quantize':>9} {'fp32 file':>10} "
          f"{'int8 file':>10} {'size':>6}")
    for label, backbone in MODELS:
        torch_ms, fp32_ms, int8_ms = medians[label]
        prepared = made[backbone]
        print(f"{label:16} {torch_ms:>9.1f} ms {fp32_ms:>7.1f} ms {int8_ms:>7.1f} ms {fp32_ms / torch_ms:>10.2f}x "
              f"{int8_ms / torch_ms:>10.2f}x {int8_ms / fp32_ms:>9.2f}x {prepared.export_s:>6.2f} s "
              f"{prepared.quantize_s:>7.2f} s {prepared.fp32_file_bytes / 2 ** 20:>7.1f} MiB "
              f"{prepared.file_bytes / 2 ** 20:>6.1f} MiB {prepared.fp32_file_bytes / prepared.file_bytes:>5.2f}x")
    print()
    for index, (name, _, _) in enumerate(RUNS):
        ranking = sorted(medians, key=lambda label: medians[label][index])
        print(f"fastest first, {name + ':':12} {' < '.join(ranking)}")
    spread = max(max(values) / min(values) for runs in rounds.values() for values in runs)
    print(f"\nmedian of {args.rounds} rounds (largest max/min across rounds of one cell: {spread:.2f}x); other "
          f"processes used up to {busiest:.2f} cores while timing; load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
