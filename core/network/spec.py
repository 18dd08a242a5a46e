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

import json
import math
import stat
from dataclasses import fields, replace
from functools import cache
from pathlib import Path
from typing import Literal, get_args, get_origin, get_type_hints

from core.network.architecture import Architecture, BatchNorm, BlockKind, ChannelRules, Stage, content_digest
from core.network.families import resolve
from core.network.scaling import DEPTH_RANGE, RESOLUTION_RANGE, STAGE_RANGE, WIDTH_RANGE, ScalingError, adjust_depth

FORMAT = "channel-scaling-lab/network"
VERSION = 1
MAX_SPEC_BYTES = 64 * 1024  # a built-in's spec is 2-5 KB
MAX_NODES = 4000  # values in a spec, counted before the schema reads it
MAX_DEPTH = 6  # a spec's objects and lists nest 3 deep
MAX_STAGES = 32
MAX_REPEATS = 16
MAX_CHANNELS = 4096
MAX_SPEC_MACS = 100e9  # at the spec's own defaults; EfficientNet-B7 at 600 px is 38 G
MAX_SPEC_PARAMS = 1e9  # at the spec's own defaults (4 GB of fp32 weights); EfficientNet-B7 holds 66 M
# blocks at the largest depth anyone may ask for (the depth slider's top times a stage's own top): what one profile
# of the network can grow to (~7 rows a block; ~2 MB of rows at 512). A built-in reaches 156-204.
MAX_SPEC_BLOCKS = 512
LARGEST_DEPTH = DEPTH_RANGE[1] * STAGE_RANGE[1]
TITLE_CHARS = 80
ACTIVATIONS = ("relu", "relu6", "hardswish", "silu", "sigmoid", "hardsigmoid")  # core.network.modules builds these
BLOCKS = get_args(BlockKind)
MAX_INTEGER = 2 ** 63  # a whole number past this is refused before the schema reads (or prints) it


class SpecError(ScalingError):
    """A spec the engine refuses; the message names the field and what it may be, always on one line."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


def _integer(low: int, high: int) -> dict:
    return {"type": "integer", "minimum": low, "maximum": high}


def _number(low: float, high: float) -> dict:
    return {"type": "number", "minimum": low, "maximum": high}


def _object(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _choice(options) -> dict:
    return {"enum": list(options)}


def _rule(kind) -> dict:
    """A rules field's schema from its type in ``ChannelRules``: a Literal's options, an activation, a factor."""
    if get_origin(kind) is Literal:
        return _choice(get_args(kind))
    return _choice(ACTIVATIONS) if kind is str else _integer(0, 16)


_RULE_CHOICES = {name: _rule(kind) for name, kind in get_type_hints(ChannelRules).items()}
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
        "rules": _object(_RULE_CHOICES, tuple(_RULE_CHOICES)),
        "norm": _object({"eps": _number(1e-8, 0.1), "momentum": _number(0, 1)}, ("eps", "momentum")),
        "defaults": _object({"width": _number(*WIDTH_RANGE), "depth": _number(*DEPTH_RANGE),
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
        raise SpecError(f"unknown backbone {_quoted(str(backbone))}: run 'python -m core list' for the names") from None
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
    arch = _architecture(_whole_numbers(document, SCHEMA))
    _check_network(arch)
    return arch


def _parse(source) -> object:
    if isinstance(source, dict):
        return source
    if isinstance(source, Path):
        return _loads(_read(source))
    if isinstance(source, str):
        text = source.lstrip("\ufeff").strip()  # a byte-order mark, as some editors save one
        if not text:
            raise SpecError("spec: the document is empty: give JSON text, a JSON file or a dict")
        if len(source) < 1024 and "\n" not in source and not text.startswith(("{", "[")):
            try:
                data = _read(Path(source))
            except SpecError as refused:
                try:  # no such file, but short JSON text that is no object ("42", "null"): refused as such later
                    return json.loads(text, parse_int=_whole)
                except (ValueError, RecursionError):
                    raise refused from None
            return _loads(data)
        source = text.encode("utf-8", "replace")
    if not isinstance(source, (bytes, bytearray)):
        raise SpecError(f"spec: give JSON text, a file or a dict, not a Python {_type_name(source)}")
    return _loads(source)


def _read(path: Path) -> bytes:
    """A regular file's bytes, reading at most one byte past the bound (a device or a growing file cannot feed more)."""
    try:
        info = path.stat()
    except (OSError, ValueError):
        raise SpecError(f"spec: no such file {_quoted(str(path), 80)} (give a JSON file or the JSON text)") from None
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(f"spec: {_quoted(str(path), 80)} is not a file (give a JSON file or the JSON text)")
    if info.st_size > MAX_SPEC_BYTES:
        raise SpecError(f"spec: the file is {info.st_size:,} bytes; a spec may be at most {MAX_SPEC_BYTES:,}")
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_SPEC_BYTES + 1)
    except OSError as error:
        raise SpecError(f"spec: {_quoted(str(path), 80)} cannot be read ({type(error).__name__})") from None


def _whole(text: str) -> int:
    """JSON's integers, without converting thousands of digits (Python refuses past 4,300)."""
    return int(text) if len(text) <= 40 else (-MAX_INTEGER if text.startswith("-") else MAX_INTEGER)


def _loads(data: bytes | bytearray) -> object:
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"spec: the document is {len(data):,} bytes; a spec may be at most {MAX_SPEC_BYTES:,}")
    try:
        return json.loads(data, parse_int=_whole)
    except RecursionError:
        raise SpecError(f"spec: the document nests too deeply (a spec nests at most {MAX_DEPTH} levels)") from None
    except ValueError as error:
        detail = f" at line {error.lineno}, column {error.colno}" if hasattr(error, "lineno") else ""
        raise SpecError(f"spec: not valid JSON{detail}") from None


def _type_name(value) -> str:
    return " ".join(type(value).__name__.split())[:40]


def _kind(value) -> str:
    """A value's JSON kind, in words."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    kinds = ((dict, "an object"), (list, "a list"), (str, "text"), ((int, float), "a number"))
    return next((word for types, word in kinds if isinstance(value, types)), f"a Python {_type_name(value)}")


def _check_shape(document) -> None:
    """Count values and depth without recursion, so neither a 10 MB dict nor deep nesting costs more than this.

    Every value must be a JSON value (object, list, text, finite number, true, false, null), whole numbers
    below ``MAX_INTEGER``: the schema then reads, and a message prints, only small values.
    """
    if not isinstance(document, dict):
        raise SpecError(f"spec: the document must be a JSON object, not {_kind(document)}")
    pending, counted = [(document, ())], 1
    while pending:
        value, path = pending.pop()
        if len(path) >= MAX_DEPTH:
            raise SpecError(f"spec: {_where(path)} nests too deeply (a spec nests at most {MAX_DEPTH} levels)")
        if isinstance(value, (dict, list)):
            counted += len(value)  # before looking inside: a 10 MB container costs no more than a small one
            if counted > MAX_NODES:
                raise SpecError(f"spec: {_where(path)} holds too many values (a spec holds at most {MAX_NODES:,})")
            if isinstance(value, list):
                pending.extend((item, (*path, index)) for index, item in enumerate(value))
                continue
            for key, item in value.items():
                if not isinstance(key, str):
                    raise SpecError(f"spec: {_where(path)} has a field named by {_kind(key)}: "
                                    "every field name must be text")
                pending.append((item, (*path, key)))
        elif isinstance(value, str):
            if len(value) > 4 * TITLE_CHARS:
                raise SpecError(f"spec: {_where(path)} is {len(value):,} characters long: at most {TITLE_CHARS}")
        elif isinstance(value, int):  # bool included
            if not -MAX_INTEGER < value < MAX_INTEGER:
                raise SpecError(f"spec: {_where(path)} is a number of more than 18 digits: {_allowed(path)}")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise SpecError(f"spec: {_where(path)} is {value}: numbers must be finite; {_allowed(path)}")
        elif value is not None:
            raise SpecError(f"spec: {_where(path)} is {_kind(value)}: a spec holds only JSON values "
                            "(objects, lists, text, numbers, true, false, null)")


def _quoted(text: str, limit: int = 40) -> str:
    """``text`` quoted and escaped (no control character or newline gets through), at most ``limit`` characters."""
    quoted = repr(text[:limit])
    return quoted if len(quoted) <= limit else quoted[:limit - 4] + "...'"


def _where(path) -> str:
    """A value's place as a message names it: stages[0].repeats (a name that is no field's is quoted)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier() and part.isascii():
            text += f".{part}" if text else part
        else:
            text += f"[{_quoted(part, 24)}]"
    return text[:80] or "the document"


def _shown(value) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return json.dumps(value)[:40]  # _check_shape let only small JSON values through


def _schema_at(path) -> dict:
    """The part of ``SCHEMA`` that describes the value at ``path`` ({} where the schema has no such field)."""
    schema = SCHEMA
    for part in path:
        schema = schema.get("items", {}) if isinstance(part, int) else schema.get("properties", {}).get(part, {})
    return schema


def _options(schema: dict) -> str:
    """What a value described by ``schema`` may be, in words."""
    if "anyOf" in schema:
        return " or ".join(_options(option) for option in schema["anyOf"])
    if "enum" in schema or "const" in schema:
        return " or ".join(json.dumps(option) for option in schema.get("enum", [schema.get("const")]))
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return (f"{'a whole number' if kind == 'integer' else 'a number'} "
                f"from {schema['minimum']:g} to {schema['maximum']:g}")
    if kind == "object":
        return f"an object with the fields {', '.join(sorted(schema['properties']))}"
    if kind == "array":
        return f"a list of {schema['minItems']} to {schema['maxItems']} stages"
    if kind == "string":
        return f"text of at most {schema['maxLength']} characters"
    return {"boolean": "true or false", "null": "null"}.get(kind, "")


def _allowed(path) -> str:
    options = _options(_schema_at(path))
    return f"use {options}" if options else "the field is not part of a spec"


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
        return f"unknown field {_quoted(extra[0])}{inside}: the fields are {', '.join(allowed)}"
    if kind == "required":
        missing = sorted(set(schema["required"]) - set(value))
        return f"{where} lacks {missing[0]!r} (it needs {', '.join(schema['required'])})"
    if kind in ("minItems", "maxItems"):
        return f"{where} has {len(value)} entries: use {schema.get('minItems', 0)} to {schema.get('maxItems')}"
    if kind == "maxLength":
        return f"{where} is {len(value)} characters long: at most {schema['maxLength']}"
    # a wrong type, value or option: the whole field's schema (not the anyOf branch best_match descended into)
    options = _options(_schema_at(error.absolute_path))
    if options:
        return f"{where} is {_shown(value)}: use {options}"
    return f"{where}: {error.message[:120]}"


def _integral(schema: dict) -> bool:
    if "anyOf" in schema:
        return any(_integral(option) for option in schema["anyOf"])
    options = schema.get("enum", [])
    return schema.get("type") == "integer" or bool(options) and all(type(option) is int for option in options)


def _whole_numbers(value, schema: dict):
    """A valid document with JSON's 3.0 read as 3 wherever the schema asks for a whole number."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {key: _whole_numbers(item, properties.get(key, {})) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item, schema.get("items", {})) for item in value]
    if isinstance(value, float) and _integral(schema):
        return int(value)
    return value


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
    title = " ".join(str(document.get("title", "")).split())[:TITLE_CHARS] or "Custom network"
    arch = Architecture(
        name="custom", title=title, family="custom", stages=tuple(stages), rules=rules,
        stem_channels=document["stem"]["channels"], stem_kernel=document["stem"]["kernel"],
        stem_stride=document["stem"]["stride"], stem_activation=document["stem"]["activation"],
        stem_pool=document["stem"]["pool"], head_channels=head["channels"], head_activation=head["activation"],
        classifier_hidden=classifier["hidden"], classifier_activation=classifier["activation"],
        dropout=float(classifier["dropout"]), default_resolution=defaults["resolution"],
        norm=BatchNorm(eps=float(document["norm"]["eps"]), momentum=float(document["norm"]["momentum"])),
        default_width=float(defaults["width"]), default_depth=float(defaults["depth"]), custom=True)
    return replace(arch, name=f"custom-{content_digest(arch)}")


def _check_network(arch: Architecture) -> None:
    """What the schema cannot say: the blocks any depth may build are bounded, the input survives the strides,
    and the network's work at its defaults is bounded."""
    from core.network.profiling import profile
    blocks = sum(adjust_depth(stage.repeats, LARGEST_DEPTH) for stage in arch.stages)
    if blocks > MAX_SPEC_BLOCKS:
        raise SpecError(f"spec: stages[].repeats add up to {sum(stage.repeats for stage in arch.stages)}, which is "
                        f"{blocks:,} blocks at the largest depth ({DEPTH_RANGE[1]:g} x a stage's {STAGE_RANGE[1]:g}); "
                        f"a spec may reach at most {MAX_SPEC_BLOCKS}: use fewer repeats or stages")
    if arch.total_stride > arch.default_resolution:
        raise SpecError(f"spec: defaults.resolution {arch.default_resolution} px is below the network's total "
                        f"stride of {arch.total_stride}: use at least {arch.total_stride} px or fewer stride-2 stages")
    try:
        cost = profile(arch)
    except SpecError:
        raise
    except ScalingError as error:  # a rule of the engine's that the checks above missed: still the spec's one line
        raise SpecError(f"spec: {error}") from None
    if cost.macs > MAX_SPEC_MACS:
        raise SpecError(f"spec: the network costs {cost.macs / 1e9:,.0f} G MACs at its defaults; a spec may cost "
                        f"at most {MAX_SPEC_MACS / 1e9:,.0f} G: use fewer or narrower stages or a lower "
                        "defaults.resolution")
    if cost.params > MAX_SPEC_PARAMS:
        raise SpecError(f"spec: the network holds {cost.params / 1e9:,.1f} G parameters at its defaults; a spec may "
                        f"hold at most {MAX_SPEC_PARAMS / 1e9:,.0f} G: use fewer or narrower stages")
