"""The network description and what derives from it.

``architecture`` (the data types), ``families`` (the built-in stage tables), ``spec`` (a description as
JSON, validated), ``scaling`` (the one place widths and repeats are rounded), ``counting`` and ``tasks``
(analytic rows of a classifier and of a dense-task network), ``profiling`` (``profile``, over both),
``modules`` and ``task_modules`` (the torch modules), ``building`` (``build_model``, over both).
"""
