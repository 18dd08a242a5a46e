"""Network specs (issue 19): a spec is exactly the engine's ``Architecture``, and a bad one is one line.

Random valid specs with random global and per-stage multipliers count what their built modules hold and
compute (parameters against ``numel``, MACs against ``FlopCounterMode`` / 2, every per-layer row against
its module's output, the helpers of tests/test_agreement.py); hostile documents (wrong types, out of
range, unknown fields, huge, deep, non-finite, not JSON, not an object) each give one ``SpecError`` of
one short line naming the field and what it may be, fast; every built-in survives export, JSON and load
unchanged; and the schema is read from the dataclasses it describes.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import MISSING, asdict, fields, replace
from typing import Literal, get_args, get_origin, get_type_hints

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from torch.utils.flop_counter import FlopCounterMode

import core
from core.network import spec as spec_module
from core.network.architecture import Architecture, BlockKind, ChannelRules, Stage
from core.network.families import ARCHITECTURES, PRESETS, resolve
from core.network.scaling import DEPTH_RANGE, STAGE_RANGE, ScalingError, per_stage, scale
from core.network.spec import ACTIVATIONS, MAX_SPEC_BYTES, SCHEMA, SpecError, export_spec, load_spec
from tests.test_agreement import _meta_model, _output_shapes

# Each example builds a tiny network on the meta device and runs two forward passes: a few tens of ms.
AGREEMENT_EXAMPLES = 60
FUZZ_EXAMPLES = 300
QUICK = 1.0  # seconds: the most any refusal may take, 10 MB inputs included
MAX_MESSAGE = 200
FEW = settings(max_examples=AGREEMENT_EXAMPLES, deadline=None, database=None, derandomize=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MANY = settings(FEW, max_examples=FUZZ_EXAMPLES)

STAGE_SCHEMA = SCHEMA["properties"]["stages"]["items"]
RULES_SCHEMA = SCHEMA["properties"]["rules"]
KERNELS = STAGE_SCHEMA["properties"]["kernel"]["enum"]
BLOCKS = get_args(BlockKind)


# ---------------------------------------------------------------- valid specs, composed from scratch

def _optional(draw, row: dict, key: str, strategy) -> None:
    """Give an optional stage field (its default otherwise): a spec may leave any of them out."""
    if draw(st.booleans()):
        row[key] = draw(strategy)


def _multiplier(low: float = STAGE_RANGE[0], high: float = STAGE_RANGE[1]):
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def valid_specs(draw, max_stages: int = 4) -> dict:
    """A tiny valid spec: any block kinds, kernels, strides, widths and rules, consistent as the loader asks.

    Hidden widths where the block's rule reads one (bottleneck; inverted residual under 'scaled_absolute'),
    squeeze-excitation only in inverted residuals, head channels exactly where the head rule scales them,
    a head factor where it multiplies, and a default resolution no smaller than the network's total stride.
    """
    rules = {name: draw(st.sampled_from(schema["enum"])) for name, schema in RULES_SCHEMA["properties"].items()
             if "enum" in schema}
    rules["head_factor"] = draw(st.integers(1, 6) if rules["head"] == "times_last" else st.integers(0, 16))
    stem = {"channels": draw(st.integers(1, 24)), "kernel": draw(st.sampled_from(KERNELS)),
            "stride": draw(st.sampled_from((1, 2))), "activation": draw(st.sampled_from(ACTIVATIONS)),
            "pool": draw(st.booleans())}
    stages = []
    for _ in range(draw(st.integers(1, max_stages))):
        block = draw(st.sampled_from(BLOCKS))
        row = {"block": block, "kernel": draw(st.sampled_from(KERNELS)), "stride": draw(st.sampled_from((1, 2))),
               "out_channels": draw(st.integers(1, 32)), "repeats": draw(st.integers(1, 3))}
        _optional(draw, row, "expand_ratio", st.one_of(st.sampled_from((1, 1.5, 4, 6)), st.floats(1, 6)))
        if block == "bottleneck" or (block == "inverted_residual" and rules["hidden"] == "scaled_absolute"):
            row["hidden_channels"] = draw(st.integers(1, 48))
        else:
            _optional(draw, row, "hidden_channels", st.one_of(st.none(), st.integers(1, 48)))
        _optional(draw, row, "se", st.booleans() if block == "inverted_residual" else st.just(False))
        _optional(draw, row, "activation", st.sampled_from(ACTIVATIONS))
        _optional(draw, row, "width", _multiplier(0.5, 2.0))
        _optional(draw, row, "depth", _multiplier(0.5, 2.0))
        stages.append(row)
    scaled_head = rules["head"] in ("scale_up_only", "scaled")
    stride = stem["stride"] * (2 if stem["pool"] else 1) * math.prod(row["stride"] for row in stages)
    spec = {
        "format": spec_module.FORMAT, "version": spec_module.VERSION,
        "stem": stem, "stages": stages,
        "head": {"channels": draw(st.integers(1, 64)) if scaled_head else None,
                 "activation": draw(st.sampled_from(ACTIVATIONS))},
        "classifier": {"hidden": draw(st.one_of(st.none(), st.integers(1, 64))),
                       "activation": draw(st.sampled_from(ACTIVATIONS)), "dropout": draw(st.floats(0, 0.9))},
        "rules": rules,
        "norm": {"eps": draw(st.floats(1e-8, 0.1)), "momentum": draw(st.floats(0, 1))},
        "defaults": {"width": draw(st.floats(0.1, 3.0)), "depth": draw(st.floats(0.1, 4.0)),
                     "resolution": draw(st.integers(max(32, stride), 96))},
    }
    if draw(st.booleans()):
        spec["title"] = draw(st.text(max_size=80))
    return spec


def _draw_stage_multipliers(draw, arch: Architecture, attribute: str, high: float):
    """None (the uniform network) or one multiplier per stage whose product with the stage's own stays in range."""
    if draw(st.booleans()):
        return None
    values = []
    for stage in arch.stages:
        own = getattr(stage, attribute)
        low, top = STAGE_RANGE[0] / own * (1 + 1e-9), min(high, STAGE_RANGE[1] / own * (1 - 1e-9))
        values.append(draw(_multiplier(max(STAGE_RANGE[0], low), max(STAGE_RANGE[0], top))))
    return values


def _check_agreement(backbone, width, depth, resolution, num_classes=1000, stage_width=None, stage_depth=None):
    """The analytic profile against the module built on the meta device, as tests/test_agreement.py checks it."""
    cost = core.profile(backbone, width, depth, resolution, num_classes=num_classes,
                        stage_width=stage_width, stage_depth=stage_depth)
    arch = backbone if isinstance(backbone, Architecture) else ARCHITECTURES[backbone]
    built = per_stage(arch, stage_width, stage_depth)
    assert cost.backbone == built.name  # the network built here is the one counted
    model, images = _meta_model(built, width, depth, resolution, num_classes=num_classes)
    assert cost.params == sum(parameter.numel() for parameter in model.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        assert model(images).shape == (1, num_classes)
    assert cost.flops == counter.get_total_flops()  # = 2 x MACs: every counted op is a multiply-accumulate
    shapes = _output_shapes(model, images, list(cost.layers.name))
    for row in cost.layers.itertuples():
        assert row.activation_bytes == 4 * shapes[row.name].numel(), row.name
        if row.type in ("conv", "dwconv", "maxpool"):
            assert tuple(shapes[row.name][1:]) == (row.out_channels, row.output_size, row.output_size), row.name
        if row.params:
            assert sum(p.numel() for p in model.get_submodule(row.name).parameters()) == row.params, row.name
    assert cost.activation_bytes == cost.layers.activation_bytes.sum()
    return cost


@FEW
@given(st.data())
def test_random_specs_count_what_their_modules_hold_and_compute(data):
    spec = data.draw(valid_specs(), "spec")
    assert Draft202012Validator(SCHEMA).is_valid(spec)
    arch = load_spec(json.dumps(spec) if data.draw(st.booleans(), "as text") else spec)
    assert arch.custom and arch.name.startswith("custom-")
    width = data.draw(st.floats(0.1, 1.5), "width")
    depth = data.draw(st.floats(DEPTH_RANGE[0], 1.5), "depth")
    stage_width = _draw_stage_multipliers(data.draw, arch, "width", STAGE_RANGE[1])
    stage_depth = _draw_stage_multipliers(data.draw, arch, "depth", 2.0)
    resolution = data.draw(st.integers(max(32, arch.total_stride), 96), "resolution")
    num_classes = data.draw(st.integers(1, 20), "num_classes")
    cost = _check_agreement(arch, width, depth, resolution, num_classes, stage_width, stage_depth)
    assert cost.params > 0 and cost.macs > 0


@FEW
@given(valid_specs())
def test_a_loaded_spec_exports_and_loads_back_as_the_same_network(spec):
    arch = load_spec(spec)
    again = load_spec(json.dumps(export_spec(arch)))
    assert again == arch  # the name too: a digest of what the network is, however the spec spelled it
    assert core.profile(again).rows == core.profile(arch).rows


def test_whole_numbers_written_as_3_0_are_whole_numbers():
    """JSON's 3.0 is the integer 3 (JSON Schema agrees): the same network, name included, and it builds."""
    spec = export_spec("mobilenet_v3_small")
    floats = json.loads(json.dumps(spec))
    floats["stem"]["channels"] = 16.0
    floats["stages"][0].update(kernel=3.0, stride=2.0, out_channels=16.0, repeats=1.0, hidden_channels=16.0)
    floats["rules"]["head_factor"] = 6.0
    floats["defaults"]["resolution"] = 224.0
    arch = load_spec(floats)
    assert arch == load_spec(spec)
    assert all(type(value) is int for value in (arch.stem_channels, arch.stages[0].kernel, arch.stages[0].repeats,
                                                 arch.rules.head_factor, arch.default_resolution))
    _check_agreement(arch, 0.5, 1.0, 64)


# ---------------------------------------------------------------- hostile documents

BASE = export_spec("mobilenet_v3_small")  # stage 0: inverted residual with SE and a hidden width; head times_last
DELETE = object()


def _edited(*edits) -> dict:
    """BASE with (path, value) edits applied; DELETE removes the field."""
    document = json.loads(json.dumps(BASE))
    for path, value in edits:
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        if value is DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    return document


def _text(*edits, replace: tuple[str, str] | None = None) -> str:
    text = json.dumps(_edited(*edits))
    return text if replace is None else text.replace(*replace, 1)


def _nested_dict(levels: int) -> dict:
    document = inner = {}
    for _ in range(levels):
        inner["a"] = {}
        inner = inner["a"]
    return document


def _nested_list(levels: int) -> list:
    document = inner = []
    for _ in range(levels):
        inner.append([])
        inner = inner[0]
    return document


def _file(tmp_path, content: bytes, as_str: bool = False):
    path = tmp_path / "spec.json"
    path.write_bytes(content)
    return str(path) if as_str else path


TEN_MB = 10 * 2 ** 20
STAGE_FIELDS_TEXT = "activation, block, depth, expand_ratio, hidden_channels, kernel, out_channels, repeats, se"
ROW = BASE["stages"][0]
# (id, a function of tmp_path giving the source, fragments the one-line message must hold: the field, then
# what it may be). Sources are made when the test runs, outside the timed call.
HOSTILE = [
    # wrong types
    ("channels as text", lambda _: _edited((("stem", "channels"), "16")),
     ['stem.channels is "16"', "a whole number from 1 to 4096"]),
    ("se as text", lambda _: _edited((("stages", 0, "se"), "yes")), ["stages[0].se", "true or false"]),
    ("kernel true", lambda _: _edited((("stages", 0, "kernel"), True)),
     ["stages[0].kernel is true", "1 or 3 or 5 or 7"]),
    ("stride as list", lambda _: _edited((("stages", 2, "stride"), [2])), ["stages[2].stride is a list", "1 or 2"]),
    ("stages as text", lambda _: _edited((("stages",), "x")), ["stages", "a list of 1 to 32"]),
    ("stem as list", lambda _: _edited((("stem",), [])),
     ["stem is a list", "an object with the fields activation, channels"]),
    ("title a number", lambda _: _edited((("title",), 5)), ["title is 5", "text of at most 80"]),
    ("rule a number", lambda _: _edited((("rules", "hidden"), 3)),
     ["rules.hidden is 3", '"round_ratio" or "divisible_ratio" or "scaled_absolute"']),
    ("hidden as text", lambda _: _edited((("stages", 0, "hidden_channels"), "x")),
     ["stages[0].hidden_channels", "a whole number from 1 to 4096 or null"]),
    ("resolution 224.5", lambda _: _edited((("defaults", "resolution"), 224.5)),
     ["defaults.resolution is 224.5", "a whole number from 32 to 1024"]),
    # out of range
    ("repeats 0", lambda _: _edited((("stages", 0, "repeats"), 0)), ["stages[0].repeats is 0", "from 1 to 16"]),
    ("repeats 17", lambda _: _edited((("stages", 3, "repeats"), 17)), ["stages[3].repeats is 17", "from 1 to 16"]),
    ("repeats a billion", lambda _: _edited((("stages", 0, "repeats"), 10 ** 9)), ["stages[0].repeats", "1 to 16"]),
    ("repeats 5000 digits", lambda _: _edited((("stages", 0, "repeats"), 10 ** 5000)),
     ["stages[0].repeats is a number of more than 18 digits", "from 1 to 16"]),
    ("repeats 5000 digits text", lambda _: _text(replace=('"repeats": 1', '"repeats": ' + "9" * 5000)),
     ["stages[0].repeats", "from 1 to 16"]),
    ("channels 4097", lambda _: _edited((("stages", 1, "out_channels"), 4097)),
     ["stages[1].out_channels is 4097", "from 1 to 4096"]),
    ("channels a trillion", lambda _: _edited((("stem", "channels"), 10 ** 12)), ["stem.channels", "1 to 4096"]),
    ("channels -2^63", lambda _: _edited((("stem", "channels"), -2 ** 63)), ["stem.channels", "1 to 4096"]),
    ("hidden 0", lambda _: _edited((("stages", 0, "hidden_channels"), 0)),
     ["stages[0].hidden_channels is 0", "1 to 4096 or null"]),
    ("kernel 4", lambda _: _edited((("stages", 0, "kernel"), 4)), ["stages[0].kernel is 4", "1 or 3 or 5 or 7"]),
    ("stride 3", lambda _: _edited((("stem", "stride"), 3)), ["stem.stride is 3", "1 or 2"]),
    ("expand ratio 9", lambda _: _edited((("stages", 1, "expand_ratio"), 9)),
     ["stages[1].expand_ratio is 9", "a number from 1 to 8"]),
    ("stage width 4", lambda _: _edited((("stages", 0, "width"), 4)), ["stages[0].width is 4", "0.25 to 3"]),
    ("stage depth 0", lambda _: _edited((("stages", 0, "depth"), 0)), ["stages[0].depth is 0", "0.25 to 3"]),
    ("dropout 1", lambda _: _edited((("classifier", "dropout"), 1)), ["classifier.dropout is 1", "0 to 0.9"]),
    ("eps 0", lambda _: _edited((("norm", "eps"), 0)), ["norm.eps is 0", "1e-08 to 0.1"]),
    ("resolution 16", lambda _: _edited((("defaults", "resolution"), 16)),
     ["defaults.resolution is 16", "32 to 1024"]),
    ("width 0", lambda _: _edited((("defaults", "width"), 0)), ["defaults.width is 0", "0.1 to 3"]),
    ("head factor 17", lambda _: _edited((("rules", "head_factor"), 17)), ["rules.head_factor is 17", "0 to 16"]),
    ("title 81 characters", lambda _: _edited((("title",), "x" * 81)), ["title is 81 characters long", "at most 80"]),
    ("version 2", lambda _: _edited((("version",), 2)), ["version is 2", "use 1"]),
    ("another format", lambda _: _edited((("format",), "onnx")), ['format is "onnx"', '"channel-scaling-lab/network"']),
    ("activation gelu", lambda _: _edited((("stages", 0, "activation"), "gelu")),
     ['stages[0].activation is "gelu"', '"relu" or "relu6" or "hardswish"']),
    ("33 stages", lambda _: _edited((("stages",), [ROW] * 33)), ["stages has 33 entries", "1 to 32"]),
    ("no stages", lambda _: _edited((("stages",), [])), ["stages has 0 entries", "1 to 32"]),
    # unknown and missing fields
    ("unknown top-level field", lambda _: _edited((("colour",), "red")),
     ["unknown field 'colour'", "the fields are based_on, classifier, defaults, format"]),
    ("unknown stage field", lambda _: _edited((("stages", 1, "colour"), "red")),
     ["unknown field 'colour' in stages[1]", STAGE_FIELDS_TEXT]),
    ("unknown stem field", lambda _: _edited((("stem", "dilation"), 2)),
     ["unknown field 'dilation' in stem", "activation, channels, kernel, pool, stride"]),
    ("unknown rules field", lambda _: _edited((("rules", "groups"), 2)), ["'groups' in rules", "head_factor"]),
    ("unknown defaults field", lambda _: _edited((("defaults", "batch"), 2)),
     ["'batch' in defaults", "depth, resolution, width"]),
    ("a field named by a newline", lambda _: _edited((("a\nb",), 1)), ["unknown field 'a\\nb'", "the fields are"]),
    ("stage lacks block", lambda _: _edited((("stages", 0, "block"), DELETE)),
     ["stages[0] lacks 'block'", "block, kernel, stride, out_channels, repeats"]),
    ("no stem", lambda _: _edited((("stem",), DELETE)), ["the document lacks 'stem'", "format, version, stem"]),
    # non-finite numbers
    ("nan", lambda _: _edited((("stages", 1, "expand_ratio"), math.nan)),
     ["stages[1].expand_ratio is nan", "finite", "1 to 8"]),
    ("inf", lambda _: _edited((("defaults", "width"), math.inf)), ["defaults.width is inf", "0.1 to 3"]),
    ("-inf", lambda _: _edited((("norm", "momentum"), -math.inf)), ["norm.momentum is -inf", "0 to 1"]),
    ("NaN text", lambda _: _text((("classifier", "dropout"), math.nan)), ["classifier.dropout is nan", "0 to 0.9"]),
    ("Infinity text", lambda _: _text((("stem", "channels"), math.inf)), ["stem.channels is inf", "1 to 4096"]),
    ("1e999 text", lambda _: _text(replace=('"eps": 0.001', '"eps": 1e999')), ["norm.eps is inf", "1e-08 to 0.1"]),
    ("nan in an unknown field", lambda _: _edited((("junk",), math.nan)), ["junk is nan", "not part of a spec"]),
    # what the schema cannot say
    ("squeeze-excitation in a basic block", lambda _: _edited((("stages", 0, "block"), "basic")),
     ["stages[0].se is true", "only in inverted_residual"]),
    ("a bottleneck without hidden width", lambda _: _edited((("stages", 1, "block"), "bottleneck"),
                                                            (("stages", 1, "hidden_channels"), None)),
     ["stages[1].hidden_channels is null", "a whole number from 1 to 4096"]),
    ("head width under times_last", lambda _: _edited((("head", "channels"), 1024)),
     ["head.channels is 1024", "'times_last' head rule", "null"]),
    ("times_last by 0", lambda _: _edited((("rules", "head_factor"), 0)), ["rules.head_factor is 0", "1 to 16"]),
    ("input below the total stride", lambda _: _edited((("defaults", "resolution"), 32), (("stem", "pool"), True)),
     ["defaults.resolution 32 px", "at least 64 px"]),
    ("over 100 G MACs", lambda _: _edited(
        (("stem", "stride"), 1), (("defaults", "resolution"), 1024),
        (("stages",), [{"block": "basic", "kernel": 7, "stride": 1, "out_channels": 4096, "repeats": 16}])),
     ["G MACs at its defaults", "at most 100 G", "defaults.resolution"]),
    ("over 1 G parameters", lambda _: _edited(
        (("defaults", "resolution"), 32), (("stem", "stride"), 2), (("stem", "pool"), True),
        (("stages",), [{"block": "basic", "kernel": 3, "stride": 2, "out_channels": 64, "repeats": 1}] * 3
         + [{"block": "basic", "kernel": 3, "stride": 1, "out_channels": 4096, "repeats": 16}])),
     ["G parameters at its defaults", "at most 1 G"]),
    ("6,144 blocks at the largest depth", lambda _: _deep(spec_module.MAX_STAGES * spec_module.MAX_REPEATS,
                                                          spec_module.MAX_STAGES),
     ["stages[].repeats add up to 512", "6,144 blocks", "(4 x a stage's 3)", "at most 512", "fewer repeats"]),
    # nesting
    ("100,000 nested lists", lambda _: "[" * 100_000 + "]" * 100_000, ["200,000 bytes", "at most 65,536"]),
    ("30,000 nested lists", lambda _: "[" * 30_000 + "]" * 30_000, ["nests too deeply", "at most 6 levels"]),
    ("nested lists in a field", lambda _: '{"title": ' + "[" * 30_000 + "]" * 30_000 + "}",
     ["nests too deeply", "at most 6 levels"]),
    ("100,000 nested dicts", lambda _: _nested_dict(100_000), ["a.a.a.a.a.a nests too deeply", "at most 6 levels"]),
    ("100,000 nested lists as a field", lambda _: {**BASE, "stages": _nested_list(100_000)},
     ["stages[0][0][0][0][0] nests too deeply", "at most 6"]),
    # 10 MB
    ("10 MB text", lambda _: json.dumps({**BASE, "title": "x" * TEN_MB}),
     ["the document is 10,48", "bytes", "at most 65,536"]),
    ("10 MB text of stages", lambda _: json.dumps({**BASE, "stages": [ROW] * 50_000}), ["bytes", "65,536"]),
    ("10 MB bytes", lambda _: json.dumps({**BASE, "title": "x" * TEN_MB}).encode(), ["bytes", "65,536"]),
    ("10 MB file", lambda tmp: _file(tmp, b" " * TEN_MB), ["the file is 10,485,760 bytes", "at most 65,536"]),
    ("10 MB file by name", lambda tmp: _file(tmp, b"{" * TEN_MB, as_str=True), ["10,485,760 bytes", "65,536"]),
    ("10 MB dict: a huge list", lambda _: {**BASE, "stages": [ROW] * 1_000_000},
     ["stages holds too many values", "at most 4,000"]),
    ("10 MB dict: a huge list of numbers", lambda _: {**BASE, "junk": list(range(TEN_MB // 8))},
     ["junk holds too many values", "4,000"]),
    ("10 MB dict: a huge text", lambda _: {**BASE, "title": "x" * TEN_MB},
     ["title is 10,485,760 characters long", "at most 80"]),
    ("10 MB dict: many fields", lambda _: {**BASE, **{f"k{index}": index for index in range(500_000)}},
     ["the document holds too many values", "4,000"]),
    # not an object, not JSON, not JSON values
    ("a list", lambda _: "[]", ["must be a JSON object", "not a list"]),
    ("a number", lambda _: "42", ["must be a JSON object", "not a number"]),
    ("null", lambda _: "null", ["must be a JSON object", "not null"]),
    ("text", lambda _: '"stages"', ["must be a JSON object", "not text"]),
    ("true", lambda _: " true ", ["must be a JSON object", "not true"]),
    ("a Python list", lambda _: [BASE], ["give JSON text, a file or a dict", "list"]),
    ("None", lambda _: None, ["give JSON text, a file or a dict", "NoneType"]),
    ("an int", lambda _: 42, ["give JSON text, a file or a dict", "int"]),
    ("empty text", lambda _: "", ["the document is empty", "JSON text, a JSON file or a dict"]),
    ("blank text", lambda _: " \n\t ", ["the document is empty"]),
    ("unclosed", lambda _: json.dumps(BASE)[:-1], ["not valid JSON", "line 1"]),
    ("a missing value", lambda _: '{"format": }', ["not valid JSON at line 1, column 12"]),
    ("single quotes", lambda _: "{'format': 1}", ["not valid JSON at line 1, column 2"]),
    ("trailing comma", lambda _: '{"version": 1,}\n', ["not valid JSON at line 1"]),
    ("not UTF-8", lambda _: b"{\xff\xfe}", ["not valid JSON"]),
    ("a file that is not JSON", lambda tmp: _file(tmp, b"stages: []\n"), ["not valid JSON at line 1, column 1"]),
    ("a tuple", lambda _: {**BASE, "stages": tuple(BASE["stages"])}, ["stages is a Python tuple", "JSON values"]),
    ("a huge tuple", lambda _: {**BASE, "stages": (ROW,) * 1_000_000}, ["stages is a Python tuple", "JSON values"]),
    ("a set", lambda _: _edited((("stem", "channels"), {16})), ["stem.channels is a Python set", "JSON values"]),
    ("bytes", lambda _: _edited((("title",), b"x")), ["title is a Python bytes", "JSON values"]),
    ("an object", lambda _: _edited((("stem", "activation"), object())), ["stem.activation is a Python object"]),
    ("a number as a field name", lambda _: {**BASE, 1: 2}, ["the document has a field named by a number", "text"]),
    ("no such file", lambda tmp: str(tmp / "missing.json"), ["no such file", "missing.json"]),
    ("no such file by Path", lambda tmp: tmp / "missing.json", ["no such file", "missing.json"]),
    ("a folder", lambda tmp: tmp, ["is not a file", "give a JSON file or the JSON text"]),
    ("an endless device", lambda _: "/dev/zero", ["'/dev/zero' is not a file"]),
]


def _assert_one_line(error: BaseException, elapsed: float) -> str:
    """The refusal every bad spec gets: one ``SpecError`` alone, one short line, quickly."""
    assert type(error) is SpecError
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    message = str(error)
    assert message.startswith("spec: ") and "\n" not in message and "\r" not in message, message
    assert len(message) <= MAX_MESSAGE and "Traceback" not in message, message
    assert elapsed < QUICK, (message, elapsed)
    return message


@pytest.mark.parametrize("make,fragments", [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_a_bad_spec_is_one_short_line_naming_the_field_and_what_it_may_be(make, fragments, tmp_path):
    source = make(tmp_path)
    start = time.perf_counter()
    with pytest.raises(SpecError) as refused:
        load_spec(source)
    message = _assert_one_line(refused.value, time.perf_counter() - start)
    for fragment in fragments:
        assert fragment in message, message


def test_the_hostile_table_covers_every_bound():
    assert len(HOSTILE) >= 90 and len({case[0] for case in HOSTILE}) == len(HOSTILE)
    assert len("[" * 100_000) > MAX_SPEC_BYTES


def test_a_spec_loads_from_text_bytes_a_file_or_a_dict_alike(tmp_path):
    text = json.dumps(BASE, indent=2)
    path = _file(tmp_path, text.encode())
    arch = load_spec(BASE)
    assert {arch} == {load_spec(text), load_spec(text.encode()), load_spec("\ufeff" + text), load_spec(path),
                      load_spec(str(path)), load_spec(json.dumps(BASE))}


def test_the_largest_spec_the_bounds_allow_loads_in_bounded_time():
    """As many squeeze-excited blocks as the block bound lets depth 4 x 3 build (42 repeats: 504 blocks, 3,029
    rows), counted once, quickly; one repeat more is refused with one line."""
    per_repeat = core.adjust_depth(1, DEPTH_RANGE[1] * STAGE_RANGE[1])
    repeats = spec_module.MAX_SPEC_BLOCKS // per_repeat
    spec = _deep(repeats)
    start = time.perf_counter()
    arch = load_spec(spec)
    assert time.perf_counter() - start < QUICK
    blocks = repeats * per_repeat
    # depthwise, SE reduce, expand and rescale, project, residual sum; stem, head, pool, hidden, fc
    assert len(core.profile(arch).rows) == 6 * blocks + 5 and blocks == 504
    with pytest.raises(SpecError) as refused:
        load_spec(_deep(repeats + 1))
    assert "at most 512" in _assert_one_line(refused.value, 0.0)


def _deep(repeats: int, stages: int = 3) -> dict:
    """A spec of ``repeats`` squeeze-excited blocks in all (split over ``stages``), each stage at its top depth."""
    row = {"block": "inverted_residual", "kernel": 7, "stride": 1, "out_channels": 8, "hidden_channels": 8,
           "se": True, "width": STAGE_RANGE[1], "depth": STAGE_RANGE[1]}
    counts = [repeats // stages + (index < repeats % stages) for index in range(stages)]
    return _edited((("stages",), [dict(row, repeats=count) for count in counts]),
                   (("defaults",), {"width": 0.1, "depth": DEPTH_RANGE[1], "resolution": 32}))


# ---------------------------------------------------------------- random damage to valid specs

SPEC_FIELD_NAMES = sorted({name for schema in (SCHEMA, STAGE_SCHEMA, *SCHEMA["properties"].values())
                           for name in schema.get("properties", {})})
ODD_VALUES = [-10 ** 30, 2 ** 63, 2 ** 63 - 1, -0.0, 1e308, 5e-324, math.nan, math.inf, -math.inf,
              3.0, 16.0, 4096, 4097, True, False, None, "", " ", "\n", "x" * 321, "relu", "basic", "🙂",
              [], {}, [[[[[[[]]]]]]], ("tuple",), {"set"}, b"bytes"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(ODD_VALUES)
    | st.integers(4000, 6000).map(lambda digits: 10 ** digits),  # mapped: hypothesis cannot print one
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8)


def _paths(value, path=()):
    """Every value's path in a document, the document itself included."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _damaged(draw, document):
    """One random edit: replace any value (the whole document too), add a field, or remove one."""
    paths = list(_paths(document))
    path = draw(st.sampled_from(paths), "path")
    action = draw(st.sampled_from(("replace", "add", "remove")), "action")
    if not path and action != "add":
        return draw(JSON_VALUES, "document")
    parent = document
    for part in path[:-1 if action != "add" else None]:
        parent = parent[part]
    if action == "add":
        if isinstance(parent, dict):
            key = draw(st.sampled_from(SPEC_FIELD_NAMES) | st.text(max_size=12), "key")
            parent[key] = draw(JSON_VALUES, "value")
        elif isinstance(parent, list):
            parent.append(draw(JSON_VALUES, "item"))
    elif action == "remove":
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(JSON_VALUES, "value")
    return document


@MANY
@given(st.data())
def test_a_damaged_spec_loads_or_is_refused_with_one_line(data):
    if data.draw(st.booleans(), "from a built-in"):
        document = export_spec(data.draw(st.sampled_from(core.BACKBONE_NAMES), "backbone"))
    else:
        document = data.draw(valid_specs(), "spec")
    for _ in range(data.draw(st.integers(1, 3), "edits")):
        document = _damaged(data.draw, document)
    source = document
    if data.draw(st.booleans(), "as text"):
        try:
            source = json.dumps(document)
        except (TypeError, ValueError):
            pass  # a value JSON cannot write (a set, bytes, 5,000 digits): loaded as the dict
    start = time.perf_counter()
    try:
        arch = load_spec(source)
    except SpecError as error:
        _assert_one_line(error, time.perf_counter() - start)
    else:
        assert isinstance(arch, Architecture) and arch.custom
        assert time.perf_counter() - start < QUICK
        cost = core.profile(arch)
        assert cost.macs <= spec_module.MAX_SPEC_MACS and cost.params <= spec_module.MAX_SPEC_PARAMS


# ---------------------------------------------------------------- built-ins through a spec

@pytest.mark.parametrize("name", core.BACKBONE_NAMES)
def test_every_builtin_survives_export_json_and_load(name):
    spec = export_spec(name)
    Draft202012Validator(SCHEMA).validate(spec)
    arch = load_spec(json.dumps(spec))
    base, preset = resolve(name)
    assert arch.custom and arch.title == preset.title and spec["based_on"] == name
    assert (arch.default_width, arch.default_depth, arch.default_resolution) == (
        preset.width, preset.depth, preset.resolution)
    named, loaded = core.profile(name), core.profile(arch)
    for attribute in ("width", "depth", "resolution", "num_classes", "params", "macs", "activation_bytes",
                      "peak_activation_bytes"):
        assert getattr(loaded, attribute) == getattr(named, attribute), attribute
    assert loaded.rows == named.rows
    with torch.device("meta"):
        model = core.build_model(arch)
    assert sum(parameter.numel() for parameter in model.parameters()) == named.params
    norm = base.norm if preset.norm is None else preset.norm
    assert {(module.eps, module.momentum) for module in model.modules()
            if isinstance(module, torch.nn.BatchNorm2d)} == {(norm.eps, norm.momentum)}
    assert model.classifier.dropout.p == (base.dropout if preset.dropout is None else preset.dropout)
    assert load_spec(export_spec(arch)) == arch


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_a_base_spec_holds_every_field_of_its_architecture(name):
    arch = ARCHITECTURES[name]
    loaded = load_spec(export_spec(name))
    assert replace(loaded, name=arch.name, title=arch.title, family=arch.family, custom=False) == arch


def test_a_preset_spec_keeps_its_multipliers_dropout_and_norm():
    preset = PRESETS["efficientnet_b7"]
    arch = load_spec(export_spec("efficientnet_b7"))
    assert (arch.default_width, arch.default_depth, arch.default_resolution) == (2.0, 3.1, 600)
    assert (arch.dropout, arch.norm) == (preset.dropout, preset.norm)


# ---------------------------------------------------------------- per-stage multipliers

@pytest.mark.parametrize("name", ARCHITECTURES)
def test_per_stage_multipliers_of_one_are_the_uniform_network(name):
    arch = ARCHITECTURES[name]
    ones = [1] * len(arch.stages)
    uniform = core.profile(name)
    staged = core.profile(name, stage_width=ones, stage_depth=[1.0] * len(ones))
    assert staged.rows == uniform.rows and staged.backbone == name and staged.stage_width is None
    assert per_stage(arch, ones, ones) is arch
    spec = export_spec(name)  # every stage says width 1.0 and depth 1.0; without them, the same network
    bare = json.loads(json.dumps(spec))
    for row in bare["stages"]:
        del row["width"], row["depth"]
    assert load_spec(bare) == load_spec(spec)
    assert core.profile(load_spec(bare)).rows == uniform.rows


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_per_stage_multipliers_change_only_their_stage(name):
    arch = ARCHITECTURES[name]
    base = scale(arch)
    count = len(arch.stages)
    for index in range(count):
        multipliers = [1.0] * count
        multipliers[index] = 2.0
        wider = scale(per_stage(arch, stage_width=multipliers))
        for number, (before, after) in enumerate(zip(base.stages, wider.stages)):
            if number == index:
                assert len(after) == len(before)
                assert all(new.out_channels > old.out_channels for old, new in zip(before, after)), number
            elif number == index + 1:  # reads the wider stage: its first block's input, nothing else
                assert [block.out_channels for block in after] == [block.out_channels for block in before]
                assert after[1:] == before[1:] and after[0].in_channels == wider.stages[index][-1].out_channels
            else:
                assert after == before, (index, number)
        if index < count - 1:
            assert (wider.head, wider.classifier_hidden) == (base.head, base.classifier_hidden)
        deeper = scale(per_stage(arch, stage_depth=multipliers))
        for number, (before, after) in enumerate(zip(base.stages, deeper.stages)):
            if number == index:
                assert len(after) == core.adjust_depth(arch.stages[index].repeats, 2.0) > len(before)
                assert after[0] == before[0] and {block.out_channels for block in after} == {before[0].out_channels}
            else:
                assert after == before, (index, number)
        assert (deeper.head, deeper.classifier_hidden) == (base.head, base.classifier_hidden)


def test_per_stage_networks_count_what_their_modules_hold():
    _check_agreement("efficientnet_b0", 0.5, 0.8, 64, 10, [0.25, 3, 1, 1, 2, 0.5, 1], [1, 3, 0.25, 1, 1, 2, 1])
    _check_agreement("resnet50", 0.25, 0.5, 48, 7, [1, 2, 0.5, 3], [3, 1, 0.3, 1])


def test_a_spec_with_stage_multipliers_scales_each_stage_once():
    """A spec's own stage multipliers and per_stage's multiply; the product is bounded, so the result exports."""
    spec = export_spec("resnet18")
    spec["stages"][1]["width"] = 2.0
    arch = load_spec(spec)
    staged = per_stage(arch, stage_width=[1, 1.5, 1, 1])
    assert staged.stages[1].width == 3.0 and load_spec(export_spec(staged)).stages == staged.stages
    assert core.profile(staged).rows == core.profile(arch, stage_width=[1, 1.5, 1, 1]).rows
    with pytest.raises(ScalingError, match="stage_width of stage 2 is 2: times the stage's own 2 that is 4"):
        per_stage(arch, stage_width=[1, 2, 1, 1])


# ---------------------------------------------------------------- the schema is read from the dataclasses

def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_schema_fields_are_the_dataclass_fields():
    stage_fields = {field.name for field in fields(Stage)}
    assert set(STAGE_SCHEMA["properties"]) == stage_fields == set(export_spec("mobilenet_v2")["stages"][0])
    assert {field.name for field in fields(Stage) if field.default is MISSING} <= set(
        STAGE_SCHEMA["required"]) <= stage_fields
    assert STAGE_SCHEMA["properties"]["block"]["enum"] == list(BLOCKS)
    for name in ("width", "depth"):
        assert (STAGE_SCHEMA["properties"][name]["minimum"], STAGE_SCHEMA["properties"][name]["maximum"]) \
            == STAGE_RANGE
    rule_types = get_type_hints(ChannelRules)
    assert set(RULES_SCHEMA["properties"]) == set(RULES_SCHEMA["required"]) == {f.name for f in fields(ChannelRules)}
    for name, kind in rule_types.items():
        if get_origin(kind) is Literal:
            assert RULES_SCHEMA["properties"][name]["enum"] == list(get_args(kind)), name
    from core.network.modules import ACTIVATIONS as BUILT
    assert set(ACTIVATIONS) == set(BUILT)
    defaults = SCHEMA["properties"]["defaults"]["properties"]
    from core.network.scaling import RESOLUTION_RANGE, WIDTH_RANGE
    assert [(defaults[key]["minimum"], defaults[key]["maximum"]) for key in ("width", "depth", "resolution")] == [
        WIDTH_RANGE, DEPTH_RANGE, RESOLUTION_RANGE]
    assert asdict(ChannelRules()).keys() == export_spec("resnet50")["rules"].keys()
