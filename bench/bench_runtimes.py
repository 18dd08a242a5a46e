"""Eager torch against ONNX Runtime fp32 and int8 (static QDQ) on the same modules, in one run.

MobileNet V2, ResNet-50 and EfficientNet-B0 at batch 1, 224 px, on N threads (default 2):
median latency of each runtime through ``core.measure_latency``, the ratios to eager torch,
what exporting and quantizing took (in a fresh cache, after one throwaway export that pays
torch.onnx's import) and the file sizes. The int8 models are calibrated on random inputs of
untrained weights: their timing and size are real, an accuracy would not be.

    python bench/bench_runtimes.py [--threads 2] [--repeats 50]
"""
from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--repeats", type=int, default=50, help="timed passes per runtime (after 5 warm-up)")
    args = parser.parse_args()
    os.environ["CSL_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-runtimes-")  # export and quantize for real

    import onnxruntime
    import torch

    import core
    from core import onnx_runtime

    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, {args.threads} threads, batch 1, "
          f"224 px; load average before: {os.getloadavg()[0]:.2f}\n")
    torch.set_num_threads(args.threads)
    # torch.onnx's and the quantizer's one-off imports are paid here, not in the first model's times
    onnx_runtime.prepare(core.profile("mobilenet_v2", 0.35, 1.0, 96), 1, "int8")
    made = {backbone: onnx_runtime.prepare(core.profile(backbone), 1, "int8")  # fp32 file first, then int8
            for _, backbone in MODELS}

    header = (f"{'model':16} {'eager torch':>12} {'ORT fp32':>10} {'ORT int8':>10} {'fp32/torch':>11} "
              f"{'int8/torch':>11} {'int8/fp32':>10} {'export':>8} {'quantize':>9} {'fp32 file':>10} "
              f"{'int8 file':>10} {'size':>6}")
    print(header)
    busiest, medians = 0.0, {}
    for label, backbone in MODELS:
        times = []
        for _, runtime, dtype in RUNS:
            result = core.measure_latency(backbone, resolution=224, runtime=runtime, dtype=dtype,
                                          threads=args.threads, warmup=5, repeats=args.repeats, cap_s=300)
            times.append(result.median_ms)
            busiest = max(busiest, result.other_load_cores or 0.0)
        medians[label] = times
        torch_ms, fp32_ms, int8_ms = times
        prepared = made[backbone]
        print(f"{label:16} {torch_ms:>9.1f} ms {fp32_ms:>7.1f} ms {int8_ms:>7.1f} ms {fp32_ms / torch_ms:>10.2f}x "
              f"{int8_ms / torch_ms:>10.2f}x {int8_ms / fp32_ms:>9.2f}x {prepared.export_s:>6.2f} s "
              f"{prepared.quantize_s:>7.2f} s {prepared.fp32_file_bytes / 2 ** 20:>7.1f} MiB "
              f"{prepared.file_bytes / 2 ** 20:>6.1f} MiB {prepared.fp32_file_bytes / prepared.file_bytes:>5.2f}x")
    print()
    for index, (name, _, _) in enumerate(RUNS):
        ranking = sorted(medians, key=lambda label: medians[label][index])
        print(f"fastest first, {name + ':':12} {' < '.join(ranking)}")
    print(f"\nother processes used up to {busiest:.2f} cores while timing; load average after: "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
