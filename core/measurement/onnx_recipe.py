"""How an ONNX Runtime measurement is made: export and quantization settings.

A light module (no torch, no onnxruntime) so that the web server's queue can key stored
results by the recipe: a changed recipe never serves timings made under the old one.
"""
CALIBRATION_BATCHES = 3
OPSET = 17
RECIPE = (f"torch.onnx legacy exporter at batch 1 with a free batch axis fixed per session, opset {OPSET}; int8: "
          "quant_pre_process, then quantize_static QDQ, int8 weights per channel, uint8 activations, MinMax over "
          f"{CALIBRATION_BATCHES} random images")
# Names of a measuring process's unfinished files in the ONNX cache, followed by its pid: the worker removes
# a killed child's at once (``leftovers``), anyone else's go after an hour.
TEMPORARY, WORK = ".tmp-", ".work-"


def leftovers(folder, pid: int) -> list:
    """The unfinished files and work folders process ``pid`` left in the cache ``folder`` (a pathlib.Path)."""
    return [*folder.glob(f"*{TEMPORARY}{pid}"), *folder.glob(f"*{WORK}{pid}-*")]
