"""ONNX Runtime timing for the latency model, until ``core.measure_latency`` takes ``runtime="onnxruntime"``.

A stand-in kept behind one function (``timings_ms``) so the lead can swap in the runtimes branch's
measurement: the model is exported once per network (TorchScript exporter, batch and spatial size
free, so one export serves every resolution and batch of that network; each session fixes them again)
and timed in an ``InferenceSession`` with its intra-op threads set explicitly. float32 only.
"""
from __future__ import annotations

import io
import time
import warnings
from functools import lru_cache

from core.scaling import ScalingError


@lru_cache(maxsize=2)
def _exported(backbone: str, width: float, depth: float) -> bytes:
    """The network as ONNX, batch and spatial size left free (one export per network)."""
    import torch

    from core.modules import build_model

    model = build_model(backbone, width, depth).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, torch.randn(1, 3, 64, 64), buffer, dynamo=False, opset_version=17,
                          input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}})
    return buffer.getvalue()


@lru_cache(maxsize=2)
def _session(backbone: str, width: float, depth: float, resolution: int, batch: int, threads: int):
    """A session with every dimension fixed, as a static export would be: ONNX Runtime plans its memory
    only for fixed shapes (with free ones, a run's speed depends on which shapes ran before)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    for name, value in (("batch", batch), ("height", resolution), ("width", resolution)):
        options.add_free_dimension_override_by_name(name, value)
    return onnxruntime.InferenceSession(_exported(backbone, width, depth), options,
                                        providers=["CPUExecutionProvider"])


def timings_ms(backbone: str, width: float, depth: float, resolution: int, batch: int = 1,
               dtype: str = "float32", threads: int = 1, warmup: int = 2, repeats: int = 10) -> list[float]:
    """Milliseconds per batch of ``repeats`` ONNX Runtime forward passes after ``warmup``, in order."""
    if dtype != "float32":
        raise ScalingError(f"dtype {dtype!r} is not timed with onnxruntime here yet: use float32")
    import numpy

    session = _session(backbone, width, depth, resolution, batch, threads)
    images = numpy.random.default_rng(0).standard_normal((batch, 3, resolution, resolution), dtype=numpy.float32)
    for _ in range(warmup):
        session.run(None, {"images": images})
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, {"images": images})
        timings.append((time.perf_counter() - start) * 1000)
    return timings
