"""How an ONNX Runtime measurement is made: export and quantization settings.

A light module (no torch, no onnxruntime) so that the web server's queue can key stored
results by the recipe: a changed recipe never serves timings made under the old one.
"""
CALIBRATION_BATCHES = 3
OPSET = 17
RECIPE = (f"torch.onnx legacy exporter, opset {OPSET}; int8: quant_pre_process, then quantize_static QDQ, "
          f"int8 weights per channel, uint8 activations, MinMax over {CALIBRATION_BATCHES} random batches")
