"""``build_model``: the one entry point for building any network's torch module, classifier or dense task.

It sits above ``core.network.modules`` (the backbone and classifier) and ``core.network.task_modules``
(the dense heads, which reuse the backbone's body), so those two never import each other's caller.
"""
from __future__ import annotations

from torch import nn

from core.network.architecture import Architecture
from core.network.counting import resolve_config
from core.network.modules import Backbone
from core.network.scaling import scale
from core.network.task_modules import DenseModel
from core.network.tasks import check_task, dense_network


def build_model(backbone: str | Architecture, width: float | None = None, depth: float | None = None,
                num_classes: int | None = None, *, task: str = "classification", head: str | None = None,
                stage_width=None, stage_depth=None) -> nn.Module:
    """The torch module of ``backbone`` (a name or an architecture) at the given multipliers (presets fill the rest).

    ``task``/``head`` as in ``core.profile``: a segmentation model returns per-pixel logits at the input
    size, a detection backbone the pyramid's feature maps. Build under ``torch.device("meta")`` to get
    shapes without allocating weights.
    """
    arch, preset, width, depth, _ = resolve_config(backbone, width, depth, None, stage_width, stage_depth)
    dropout = arch.dropout if preset.dropout is None else preset.dropout
    norm = arch.norm if preset.norm is None else preset.norm
    if task != "classification" or head not in (None, "classifier"):
        head = check_task(arch if arch.custom else backbone, task, head)
        return DenseModel(dense_network(backbone, width, depth, task, head, num_classes), norm).eval()
    num_classes = 1000 if num_classes is None else num_classes
    return Backbone(scale(arch, width, depth, num_classes), dropout, norm).eval()
