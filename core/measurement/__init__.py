"""Measurement: real timed runs and what keeps them safe on a shared host.

``latency`` (torch and ``onnx_runtime``), ``kernel_timing`` (per-layer profiler timings), ``host``
(threads and other processes' load), ``job_settings``, ``memory`` and ``run_budget`` (refusals before
a run), ``jobs`` (the SQLite queue and result store), ``worker`` (the process that runs the queue),
``quality`` (how far a stored figure can be trusted), ``ptflops_check`` (a second counter's opinion).
"""
