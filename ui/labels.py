"""Names people read: backbone and variant labels, and the counting convention shown under numbers."""
from __future__ import annotations

from core.network.families import BACKBONE_NAMES, resolve
from core.network.scaling import stage_source

CONVENTION = ("**MACs** = multiply-accumulates of convolution and linear layers (the papers' and "
              "torchvision's convention); **FLOPs = 2 x MACs**. Batch norm, activations and pooling are "
              "not counted. Parameters include batch-norm scale and shift.")


def backbone_label(name: str) -> str:
    """'efficientnet_b3' -> 'EfficientNet-B3 (efficientnet_b3)'; 'custom' -> the Custom choice."""
    if name == "custom":
        return "Custom (your own spec)"
    return f"{resolve(name)[1].title} ({name})"


def backbone_title(name: str) -> str:
    """'efficientnet_b0' -> 'EfficientNet-B0': the name alone, for a box a fifth of the page wide (the id is in
    the link); 'MobileNet V3 Large (TF-slim multiplier)' -> 'MobileNet V3 Large (TF-slim)'."""
    return resolve(name)[1].title.replace(" multiplier)", ")")


def variant_label(backbone: str, width: float, depth: float, resolution: int) -> str:
    return f"{backbone} w{width:.2f} d{depth:.2f} {resolution}px"


def display_name(backbone: str) -> str:
    """A network's name for a chart, short enough for a lane label: 'custom' for a spec's ``custom-<digest>``,
    ', per stage' after a per-stage network's source (pins and tables keep the full, unique names)."""
    if backbone in BACKBONE_NAMES:
        return backbone
    source, per_stage = stage_source(backbone)
    name = "custom" if source.startswith("custom-") else source
    return f"{name}, per stage" if per_stage else name
