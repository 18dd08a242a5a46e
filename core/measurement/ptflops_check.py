"""ptflops beside the engine: its figure, and the engine's prediction of it, item by item.

ptflops 0.7.5's ``pytorch`` backend adds module forward hooks and patches
``torch.nn.functional`` (relu, relu6, silu, pooling, ...) and some tensor ops for the
duration of one call. What it counts, read from its ``pytorch_ops.py`` and
``pytorch_engine.py``, on the modules ``core.network.modules`` builds:

- conv and linear multiply-accumulates (the engine's MACs), plus one per output element
  of every bias (squeeze-excitation convs, linear layers);
- batch norm: 2 per element (affine);
- ``nn.ReLU``: 2 per element (its module hook, then the patched ``F.relu`` it calls);
  ``nn.ReLU6`` 1 (module hook; it calls the unpatched ``F.hardtanh``); ``nn.SiLU`` 1
  (patched ``F.silu``; no module hook); hard-swish, hard-sigmoid and sigmoid: nothing;
- pooling: 2 per *input* element (module hook plus the patched functional);
- nothing for residual sums (``a + b``), squeeze-excitation products (``a * b``) or
  means (``x.mean``): operators, not the patched ``torch.add``/``torch.mul`` functions.

Because the patches are global, two ptflops calls (or a ptflops call and any other
forward pass) must never overlap: run it in a process of its own or under one lock.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where used: a first page view shows numbers before its 0.5 s import
    import pandas as pd

from core.measurement.memory import JOB_MEMORY, MB, child_memory_limit_mb, rss_mb
from core.network.architecture import Architecture
from core.network.profiling import profile
from core.network.scaling import ScalingError

# Elementwise ops per output element, as ptflops' pytorch backend counts them.
NONLINEARITY_OPS = {"relu": 2, "relu6": 1, "silu": 1, "hardswish": 0, "hardsigmoid": 0, "sigmoid": 0, "": 0}
BATCH_NORM_OPS = 2
POOL_OPS = 2


@dataclass(frozen=True)
class PtflopsBreakdown:
    """ptflops' figure predicted as the engine's MACs plus what ptflops adds, by kind."""

    engine_macs: int
    batch_norm: int
    nonlinearity: int
    pooling: int
    bias: int

    @property
    def total(self) -> int:
        return self.engine_macs + self.batch_norm + self.nonlinearity + self.pooling + self.bias

    def items(self) -> dict[str, int]:
        """Each part by name, total last: a table for the app or the command line."""
        return {"engine MACs (conv + linear)": self.engine_macs, "batch norm (2 per element)": self.batch_norm,
                "activations (nn.ReLU 2, ReLU6/SiLU 1, hard-swish/sigmoids 0 per element)": self.nonlinearity,
                "pooling (2 per input element)": self.pooling, "bias adds (1 per output)": self.bias,
                "ptflops total": self.total}


def breakdown(layers: pd.DataFrame) -> PtflopsBreakdown:
    """What ptflops' pytorch backend reports for a network, from its per-layer table (batch 1)."""
    elements = layers.out_channels * layers.output_size ** 2
    convs = layers.type.isin(["conv", "dwconv"])
    pools = layers.type.isin(["maxpool", "avgpool"])
    # a pool's input is the previous row's output (the stem conv; the head or last block)
    pool_inputs = (layers.out_channels * layers.output_size.shift(1) ** 2)[pools]
    return PtflopsBreakdown(
        engine_macs=int(layers.macs.sum()),
        batch_norm=int(BATCH_NORM_OPS * elements[convs].sum()),
        nonlinearity=int((elements * layers.nonlinearity.map(NONLINEARITY_OPS)).sum()),
        pooling=int(POOL_OPS * pool_inputs.sum()),
        bias=int(elements[layers.type.isin(["se_conv", "linear"])].sum()))


def predicted(backbone: str | Architecture, width: float | None = None, depth: float | None = None,
              resolution: int | None = None, stage_width=None, stage_depth=None) -> PtflopsBreakdown:
    """The engine's prediction of ptflops' number for a configuration (no torch needed)."""
    return breakdown(profile(backbone, width, depth, resolution, stage_width=stage_width,
                             stage_depth=stage_depth).layers)


def ptflops_count(backbone: str | Architecture, width: float | None = None, depth: float | None = None,
                  resolution: int | None = None, stage_width=None, stage_depth=None) -> tuple[int, int]:
    """(operations, params) from ptflops 0.7.5's pytorch backend on the built module.

    Not thread-safe (see the module docstring): call it where nothing else runs a model.
    """
    import ptflops  # heavy and optional: imported on use
    import torch

    from core.network.building import build_model
    cost = profile(backbone, width, depth, resolution, stage_width=stage_width, stage_depth=stage_depth)
    model = build_model(cost.backbone, cost.width, cost.depth)  # the network's own name: a per-stage one too
    with torch.no_grad():  # counts are the same; without it autograd keeps every activation (GBs at large sizes)
        ops, params = ptflops.get_model_complexity_info(
            model, (3, cost.resolution, cost.resolution), as_strings=False, print_per_layer_stat=False,
            backend="pytorch", ost=io.StringIO())
    if ops is None:  # ptflops catches the forward pass's own error and returns None
        raise RuntimeError("ptflops' forward pass failed (out of memory?)")
    return int(ops), int(params)


def cross_check(backbone: str | Architecture, width: float | None = None, depth: float | None = None,
                resolution: int | None = None, memory_limit_mb: float | None = None, stage_width=None,
                stage_depth=None) -> dict:
    """ptflops' real figure next to the engine's MACs and its itemised prediction, as plain JSON.

    Builds the module and runs ptflops: run it in the latency worker (the app) or alone (the CLI).
    Refused up front, like a latency run, when this process's memory plus the estimate passes the limit.
    ``backbone`` may be an architecture (``core.load_spec``) and ``stage_width``/``stage_depth`` make the
    per-stage network, as in ``core.profile``; the result names the network by its own name.
    """
    cost = profile(backbone, width, depth, resolution, stage_width=stage_width, stage_depth=stage_depth)
    backbone = cost.backbone  # a loaded or per-stage network by the name it is registered under
    limit_mb = child_memory_limit_mb() if memory_limit_mb is None else memory_limit_mb
    needed = (rss_mb() or 0.0) * MB + JOB_MEMORY["ptflops"].bytes(cost, cost)
    if needed > limit_mb * MB:
        raise ScalingError(f"ptflops on this network needs about {needed / MB:,.0f} MB, above the {limit_mb:,.0f} MB "
                           "limit: lower the resolution, the width or the depth")
    ops, params = ptflops_count(backbone, width, depth, resolution)
    parts = predicted(backbone, cost.width, cost.depth, cost.resolution)
    return {"backbone": backbone, "width": cost.width, "depth": cost.depth, "resolution": cost.resolution,
            "ptflops_ops": ops, "ptflops_params": params, "engine_macs": cost.macs, "engine_params": cost.params,
            "breakdown": parts.items(), "explained": parts.total == ops, "estimated_memory_mb": needed / MB}
