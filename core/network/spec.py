"""A network description as JSON: exactly the engine's ``Architecture``, validated before it is believed.

``export_spec(name)`` writes any backbone (a built-in, a preset at its own multipliers, a loaded or
per-stage network) as a JSON-ready dict; ``load_spec(text, path or dict)`` checks one against ``SCHEMA``
(jsonschema, draft 2020-12) and the rules a schema cannot say, and returns an ``Architecture`` that
``core.profile``, ``core.build_model``, ``core.measure_latency`` and ``core.predict_latency`` take
wherever they take a backbone name. A spec is data only: its size, nesting, stages, repeats, widths,
resolution and total MACs are bounded before anything is counted or built, and every refusal is one
line naming the field and what it may be.

A loaded network is named by a digest of its content (``custom-<digest>``), never by a name it gives:
no published figure belongs to it, and two equal specs share every cache.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import fields, replace
from functools import cache
from pathlib import Path

from core.network.architecture import Architecture, BatchNorm, ChannelRules, Stage
from core.network.families import resolve
from core.network.scaling import RESOLUTION_RANGE, STAGE_RANGE, ScalingError

FORMAT = "channel-scaling-lab/network"
VERSION = 1
MAX_SPEC_BYTES = 64 * 1024  # a built-in's spec is 2-5 KB
MAX_NODES = 4000  # values in a spec, counted before the schema reads it
MAX_DEPTH = 6  # a spec's objects and lists nest 3 deep
MAX_STAGES = 32
MAX_REPEATS = 16
MAX_CHANNELS = 4096
MAX_SPEC_MACS = 100e9  # at the spec's own defaults; EfficientNet-B7 at 600 px is 38 G
TITLE_CHARS = 80
ACTIVATIONS = ("relu", "relu6", "hardswish", "silu", "sigmoid", "hardsigmoid")  # core.network.modules builds these
BLOCKS = ("separable", "inverted_residual", "basic", "bottleneck")


class SpecError(ScalingError):
    """A spec the engine refuses; the message names the field and what it may be."""


def _integer(low: int, high: int) -> dict:
    return {"type": "integer", "minimum": low, "maximum": high}


def _number(low: float, high: float) -> dict:
    return {"type": "number", "minimum": low, "maximum": high}


def _object(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _choice(options) -> dict:
    return {"enum": list(options)}


_RULE_CHOICES = {name: field.type for name, field in ChannelRules.__dataclass_fields__.items()}
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Channel Scaling Lab network",
    **_object({
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "title": {"type": "string", "maxLength": TITLE_CHARS},
        "based_on": {"type": "string", "maxLength": TITLE_CHARS},
        "stem": _object({"channels": _integer(1, MAX_CHANNELS), "kernel": _choice((1, 3, 5, 7)),
                         "stride": _choice((1, 2)), "activation": _choice(ACTIVATIONS), "pool": {"type": "boolean"}},
                        ("channels", "kernel", "stride", "activation", "pool")),
        "stages": {"type": "array", "minItems": 1, "maxItems": MAX_STAGES, "items": _object({
            "block": _choice(BLOCKS), "kernel": _choice((1, 3, 5, 7)), "stride": _choice((1, 2)),
            "out_channels": _integer(1, MAX_CHANNELS), "repeats": _integer(1, MAX_REPEATS),
            "expand_ratio": _number(1, 8), "hidden_channels": {"anyOf": [_integer(1, MAX_CHANNELS), {"type": "null"}]},
            "se": {"type": "boolean"}, "activation": _choice(ACTIVATIONS),
            "width": _number(*STAGE_RANGE), "depth": _number(*STAGE_RANGE)},
            ("block", "kernel", "stride", "out_channels", "repeats"))},
        "head": _object({"channels": {"anyOf": [_integer(1, 4 * MAX_CHANNELS), {"type": "null"}]},
                         "activation": _choice(ACTIVATIONS)}, ("channels", "activation")),
        "classifier": _object({"hidden": {"anyOf": [_integer(1, 4 * MAX_CHANNELS), {"type": "null"}]},
                               "activation": _choice(ACTIVATIONS), "dropout": _number(0, 0.9)},
                              ("hidden", "activation", "dropout")),
        "rules": _object({
            "rounding": _choice(("divisible", "truncate")),
            "hidden": _choice(("round_ratio", "divisible_ratio", "scaled_absolute")),
            "se_width": _choice(("input_quarter", "hidden_quarter_divisible")),
            "se_activation": _choice(ACTIVATIONS), "se_gate": _choice(ACTIVATIONS),
            "head": _choice(("none", "scale_up_only", "times_last", "scaled")),
            "head_factor": _integer(0, 16), "classifier_hidden": _choice(("scaled", "fixed"))},
            tuple(_RULE_CHOICES)),
        "norm": _object({"eps": _number(1e-8, 0.1), "momentum": _number(0, 1)}, ("eps", "momentum")),
        "defaults": _object({"width": _number(0.1, 3.0), "depth": _number(0.1, 4.0),
                             "resolution": _integer(*RESOLUTION_RANGE)}, ("width", "depth", "resolution")),
    }, ("format", "version", "stem", "stages", "head", "classifier", "rules", "norm", "defaults")),
}
STAGE_FIELDS = tuple(field.name for field in fields(Stage))


@cache
def _validator():
    from jsonschema import Draft202012Validator  # a page that never meets a spec never imports it
    Draft202012Validator.check_schema(SCHEMA)
    return Draft202012Validator(SCHEMA)


def export_spec(backbone: str | Architecture) -> dict:
    """The JSON-ready spec of any backbone: a preset keeps its own width, depth, resolution, dropout and norm."""
    try:
        arch, preset = resolve(backbone)
    except KeyError:
        raise SpecError(f"unknown backbone {str(backbone)[:40]!r}: run 'python -m core list' for the names") from None
    built_in = not arch.custom and preset.name != arch.name
    dropout = preset.dropout if built_in and preset.dropout is not None else arch.dropout
    norm = preset.norm if built_in and preset.norm is not None else arch.norm
    return {
        "format": FORMAT, "version": VERSION, "title": preset.title[:TITLE_CHARS],
        **({} if arch.custom else {"based_on": preset.name}),
        "stem": {"channels": arch.stem_channels, "kernel": arch.stem_kernel, "stride": arch.stem_stride,
                 "activation": arch.stem_activation, "pool": arch.stem_pool},
        "stages": [{name: getattr(stage, name) for name in STAGE_FIELDS} for stage in arch.stages],
        "head": {"channels": arch.head_channels, "activation": arch.head_activation},
        "classifier": {"hidden": arch.classifier_hidden, "activation": arch.classifier_activation,
                       "dropout": dropout},
        "rules": {name: getattr(arch.rules, name) for name in _RULE_CHOICES},
        "norm": {"eps": norm.eps, "momentum": norm.momentum},
        "defaults": {"width": preset.width, "depth": preset.depth, "resolution": preset.resolution},
    }


def load_spec(source: str | Path | dict) -> Architecture:
    """The architecture a spec describes: ``source`` is JSON text, a path to a JSON file, or a parsed dict.

    Raises ``SpecError`` (one line: the field, its value, what it may be) for anything the engine would not
    count and build, before any work grows with the document.
    """
    document = _parse(source)
    _check_shape(document)
    error = _first_error(document)
    if error:
        raise SpecError(f"spec: {error}")
    arch = _architecture(document)
    _check_network(arch)
    return arch


def _parse(source) -> object:
    if isinstance(source, dict):
        return source
    if isinstance(source, Path) or (isinstance(source, str) and len(source) < 1024 and "\n" not in source
                                    and not source.lstrip().startswith(("{", "["))):
        path = Path(source)
        try:
            size = path.stat().st_size
        except (OSError, ValueError):
            raise SpecError(f"spec: no such file {str(source)[:80]!r} (give a JSON file or the JSON text)") from None
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"spec: the file is {size:,} bytes; a spec may be at most {MAX_SPEC_BYTES:,}")
        try:
            source = path.read_bytes()
        except OSError as error:
            raise SpecError(f"spec: {str(source)[:80]!r} cannot be read ({type(error).__name__})") from None
    if isinstance(source, str):
        source = source.encode("utf-8", "replace")
    if not isinstance(source, (bytes, bytearray)):
        raise SpecError(f"spec: give JSON text, a file or a dict, not {type(source).__name__}")
    if len(source) > MAX_SPEC_BYTES:
        raise SpecError(f"spec: the document is {len(source):,} bytes; a spec may be at most {MAX_SPEC_BYTES:,}")
    try:
        return json.loads(source)
    except RecursionError:
        raise SpecError(f"spec: the document nests too deeply (a spec nests at most {MAX_DEPTH} levels)") from None
    except ValueError as error:
        detail = f" at line {error.lineno}, column {error.colno}" if hasattr(error, "lineno") else ""
        raise SpecError(f"spec: not valid JSON{detail}") from None


def _check_shape(document) -> None:
    """Count values and depth without recursion, so neither a 10 MB dict nor deep nesting costs more than this."""
    if not isinstance(document, dict):
        raise SpecError(f"spec: the document must be a JSON object, not {type(document).__name__}")
    pending, nodes = [(document, 1)], 0
    while pending:
        value, depth = pending.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise SpecError(f"spec: too many values (a spec holds at most {MAX_NODES:,})")
        if depth > MAX_DEPTH:
            raise SpecError(f"spec: the document nests too deeply (a spec nests at most {MAX_DEPTH} levels)")
        if isinstance(value, dict):
            if any(not isinstance(key, str) for key in value):
                raise SpecError("spec: every field name must be text")
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise SpecError("spec: numbers must be finite")
        elif isinstance(value, str) and len(value) > 4 * TITLE_CHARS:
            raise SpecError(f"spec: a text value is {len(value):,} characters; at most {TITLE_CHARS} are used")


def _where(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the document"


def _shown(value) -> str:
    return repr(value)[:40] if not isinstance(value, (dict, list)) else type(value).__name__


def _first_error(document: dict) -> str | None:
    """The first schema violation as one line: the field, its value, and what the field may be."""
    from jsonschema.exceptions import best_match
    error = best_match(_validator().iter_errors(document))
    if error is None:
        return None
    where, schema, value = _where(error.absolute_path), error.schema, error.instance
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        inside = f" in {where}" if error.absolute_path else ""
        return f"unknown field {extra[0][:40]!r}{inside}: the fields are {', '.join(allowed)}"
    if kind == "required":
        missing = sorted(set(schema["required"]) - set(value))
        return f"{where} lacks {missing[0]!r} (it needs {', '.join(schema['required'])})"
    if kind in ("minimum", "maximum", "type") and "minimum" in schema and "maximum" in schema:
        return f"{where} is {_shown(value)}: use {'a whole number' if schema['type'] == 'integer' else 'a number'} " \
               f"from {schema['minimum']:g} to {schema['maximum']:g}"
    if kind in ("enum", "const"):
        options = schema.get("enum", [schema.get("const")])
        return f"{where} is {_shown(value)}: use {' or '.join(json.dumps(option) for option in options)}"
    if kind in ("minItems", "maxItems"):
        return f"{where} has {len(value)} entries: use {schema.get('minItems', 0)} to {schema.get('maxItems')}"
    if kind == "maxLength":
        return f"{where} is {len(value)} characters long: at most {schema['maxLength']}"
    if kind == "anyOf":
        integer = schema["anyOf"][0]
        return f"{where} is {_shown(value)}: use null or a whole number from {integer['minimum']} to {integer['maximum']}"
    if kind == "type":
        return f"{where} must be {schema['type']}, not {_shown(value)}"
    return f"{where}: {error.message[:120]}"


def _digest(document: dict) -> str:
    meaning = {key: value for key, value in document.items() if key not in ("title", "based_on")}
    return hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()[:12]


def _architecture(document: dict) -> Architecture:
    rules = ChannelRules(**document["rules"])
    stages = []
    for index, row in enumerate(document["stages"]):
        stage = Stage(**{"expand_ratio": 1.0, **row})
        from_hidden = stage.block == "bottleneck" or (stage.block == "inverted_residual"
                                                      and rules.hidden == "scaled_absolute")
        if from_hidden and stage.hidden_channels is None:
            raise SpecError(f"spec: stages[{index}].hidden_channels is null: {stage.block} blocks under the "
                            f"'{rules.hidden}' hidden rule need a whole number from 1 to {MAX_CHANNELS}")
        if stage.se and stage.block != "inverted_residual":
            raise SpecError(f"spec: stages[{index}].se is true: squeeze-excitation is built only in "
                            "inverted_residual blocks; set it false")
        stages.append(replace(stage, expand_ratio=float(stage.expand_ratio), width=float(stage.width),
                              depth=float(stage.depth)))
    head, classifier, defaults = document["head"], document["classifier"], document["defaults"]
    if (rules.head in ("scale_up_only", "scaled")) != (head["channels"] is not None):
        need = "a whole number" if rules.head in ("scale_up_only", "scaled") else "null"
        raise SpecError(f"spec: head.channels is {_shown(head['channels'])}: under the '{rules.head}' head rule "
                        f"use {need}")
    if rules.head == "times_last" and rules.head_factor < 1:
        raise SpecError("spec: rules.head_factor is 0: the 'times_last' head rule needs 1 to 16")
    title = " ".join(str(document.get("title") or "Custom network").split())[:TITLE_CHARS]
    return Architecture(
        name=f"custom-{_digest(document)}", title=title, family="custom", stages=tuple(stages), rules=rules,
        stem_channels=document["stem"]["channels"], stem_kernel=document["stem"]["kernel"],
        stem_stride=document["stem"]["stride"], stem_activation=document["stem"]["activation"],
        stem_pool=document["stem"]["pool"], head_channels=head["channels"], head_activation=head["activation"],
        classifier_hidden=classifier["hidden"], classifier_activation=classifier["activation"],
        dropout=float(classifier["dropout"]), default_resolution=defaults["resolution"],
        norm=BatchNorm(eps=float(document["norm"]["eps"]), momentum=float(document["norm"]["momentum"])),
        default_width=float(defaults["width"]), default_depth=float(defaults["depth"]), custom=True)


def _check_network(arch: Architecture) -> None:
    """What the schema cannot say: the input survives the strides, and the network's work is bounded."""
    from core.network.profiling import profile
    if arch.total_stride > arch.default_resolution:
        raise SpecError(f"spec: defaults.resolution {arch.default_resolution} px is below the network's total "
                        f"stride of {arch.total_stride}: use at least {arch.total_stride} px or fewer stride-2 stages")
    macs = profile(arch).macs
    if macs > MAX_SPEC_MACS:
        raise SpecError(f"spec: the network costs {macs / 1e9:,.0f} G MACs at its defaults; a spec may cost at most "
                        f"{MAX_SPEC_MACS / 1e9:,.0f} G: use fewer or narrower stages or a lower defaults.resolution")
