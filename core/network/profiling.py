"""``profile``: the one entry point for counting any network, classifier or dense task.

It sits above ``core.network.counting`` (the classifier's rows) and ``core.network.tasks`` (the
dense networks' rows), so neither of those imports the other's caller.
"""
from __future__ import annotations

from dataclasses import replace

from core.network.architecture import Architecture
from core.network.counting import DTYPE_BYTES, Profile, layer_rows, resolve_config, totals
from core.network.families import BACKBONE_NAMES, resolve
from core.network.scaling import ScalingError, scale, uniform
from core.network.tasks import task_profile


def profile(backbone: str | Architecture, width: float | None = None, depth: float | None = None,
            resolution: int | tuple[int, int] | None = None, *, num_classes: int | None = None, batch: int = 1,
            dtype: str = "float32", task: str = "classification", head: str | None = None,
            stage_width=None, stage_depth=None) -> Profile:
    """Parameters, MACs, memory and per-layer table of a configuration, analytically.

    ``backbone`` is a name or an architecture (``core.load_spec``). ``stage_width`` and ``stage_depth``
    (one multiplier per stage, on top of ``width`` and ``depth``) make a per-stage network, named by a
    digest (``scaling.per_stage``); all ones are the uniform network itself.

    ``task`` "segmentation" (``head`` fcn, deeplabv3, lraspp) or "detection" (``head`` fpn) counts the
    dense-task network as torchvision builds it (``core.network.tasks``); ``resolution`` may then be
    (height, width). ``num_classes`` defaults to 1000 (classification) or 21 (segmentation, VOC).
    """
    if dtype not in DTYPE_BYTES:
        raise ScalingError(f"dtype {dtype!r} is not known: use one of {', '.join(DTYPE_BYTES)}")
    if not (isinstance(batch, int) and batch >= 1) or not (
            num_classes is None or (isinstance(num_classes, int) and num_classes >= 1)):
        raise ScalingError("batch and num_classes must be whole numbers of at least 1")
    dense = task != "classification" or head not in (None, "classifier") or isinstance(resolution, (tuple, list))
    if isinstance(backbone, str) and backbone not in BACKBONE_NAMES:  # a custom name: looked up once, then carried
        backbone = _registered(backbone)
    arch, _, width, depth, side = resolve_config(backbone, width, depth, None if dense else resolution,
                                                 stage_width, stage_depth)
    stages = {"stage_width": _asked(stage_width), "stage_depth": _asked(stage_depth)}
    # what the per-stage lists apply to, as this function takes it: a built-in's or preset's name (its defaults,
    # dropout and norm go with it), else the custom architecture itself
    source = backbone.name if isinstance(backbone, Architecture) and not backbone.custom else backbone
    made = {"architecture": arch, "source": source}
    if arch.custom or not isinstance(backbone, str):
        backbone = arch.name  # the network's one name (labels, cache keys, the CLI's output)
    if dense:
        cost = task_profile(backbone, width, depth, resolution, task=task, head=head, num_classes=num_classes,
                            batch=batch, dtype=dtype)
        return replace(cost, **stages, **made)
    num_classes, resolution = 1000 if num_classes is None else num_classes, side
    network = scale(arch, width, depth, num_classes)
    rows = layer_rows(network, resolution, DTYPE_BYTES[dtype])
    params, macs, activations, peak = totals(rows, 3 * resolution ** 2 * DTYPE_BYTES[dtype])
    return Profile(backbone=backbone, base=arch.name, width=width, depth=depth,
                   resolution=resolution, num_classes=num_classes, batch=batch, dtype=dtype,
                   params=params, macs=macs, activation_bytes=activations * batch,
                   peak_activation_bytes=peak * batch, rows=tuple(rows), **stages, **made)


def _registered(name: str) -> str | Architecture:
    """A custom network's architecture by its name, or the name itself if unknown (``resolve_config`` says so)."""
    try:
        return resolve(name)[0]
    except KeyError:
        return name


def _asked(multipliers) -> tuple[float, ...] | None:
    """Per-stage multipliers as the profile records them: None when absent or all ones."""
    if multipliers is None or uniform(multipliers):
        return None
    return tuple(float(value) for value in multipliers)
