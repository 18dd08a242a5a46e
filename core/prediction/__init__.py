"""Prediction: figures that are estimates, each with its basis and error.

``latency_model`` (this host's per-kernel latency model), ``calibration`` (fitting it by timing real
networks), ``roofline`` (bounds on other devices), ``accuracy`` (top-1 fitted to published results).
"""
