"""The Explorer's state: defaults, validation of URL values, and the query string.

Streamlit-free so it can be tested directly. A link's values are parsed once per
session; each bad value is replaced or clamped and explained in a warning that
says what was changed, so a broken link still opens a working page.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from core.network.families import ARCHITECTURES, BACKBONE_NAMES, resolve
from core.network.scaling import (
    DEFAULT_COMPOUND,
    DEPTH_RANGE,
    RESOLUTION_RANGE,
    WIDTH_RANGE,
    CompoundScaling,
    ScalingError,
    uniform,
)
from core.network.tasks import DEFAULT_HEADS, HEADS, TASKS, check_task, combinations
from core.prediction.roofline import device_names
from core.tally import CLASS_CODE
from ui.safe_text import capped, quoted
from ui.spec_link import CUSTOM, decode_spec, encode_spec, format_stages, network_of, parse_stages, stage_count

PHI_RANGE = (0.0, 7.0)
COMPOUND_BASE_RANGE = (1.0, 2.0)
BATCH_RANGE = (1, 256)
MODES = ("sliders", "compound")
UNITS = ("MACs", "FLOPs")
VIEWS = ("position", "inside", "latency")
DTYPES = ("float32", "bfloat16", "float16", "int8")
DEVICES = ("cpu", "cuda", "mps")
MEMORY_FORMATS = ("contiguous", "channels_last")
RUNTIMES = ("torch", "onnxruntime")
TARGETS = device_names()  # where latency is predicted: this host's calibrated model, or a roofline device
THREADS_RANGE = (1, 64)
DEFAULT_BACKBONE = "mobilenet_v2"
MAX_PINS = 12
# Keys any page's link may carry besides its own: who is looking (the room) and the session's work (pins,
# Workshop answers), so a reload or a shared link keeps them. Each page's parser leaves them to ui.room.
ROOM_KEYS = ("presenter", "students", "class")
CARRIED_KEYS = ("pins", "answers", "specs")  # specs: the custom networks pins name (ui.spec_link)
SESSION_KEYS = ROOM_KEYS + CARRIED_KEYS


@dataclass(frozen=True)
class ExplorerState:
    """Everything a share link carries. Field names are the query-string keys."""

    backbone: str = DEFAULT_BACKBONE
    mode: str = "sliders"
    width: float = 1.0
    depth: float = 1.0
    resolution: int = 224
    phi: float = 1.0
    alpha: float = DEFAULT_COMPOUND[0]
    beta: float = DEFAULT_COMPOUND[1]
    gamma: float = DEFAULT_COMPOUND[2]
    unit: str = "MACs"
    view: str = "position"
    dtype: str = "float32"
    batch: int = 1
    device: str = "cpu"
    threads: int = 2
    memory_format: str = "contiguous"
    runtime: str = "torch"
    task: str = "classification"
    head: str = "classifier"
    target: str = "host"
    sw: tuple[float, ...] = ()  # per-stage width and depth multipliers, on top of width and depth; () is uniform
    sd: tuple[float, ...] = ()
    spec: str = ""  # backbone "custom": the network's canonical spec (ui.spec_link); the link carries it compressed

    @property
    def network(self) -> str:
        """The engine's name for the chosen backbone: a built-in's own, or a custom spec's ``custom-<digest>``."""
        if self.backbone == CUSTOM:
            return network_of(self.spec) if self.spec else DEFAULT_BACKBONE
        return self.backbone

    @property
    def stage_width(self) -> tuple[float, ...] | None:
        return self.sw or None

    @property
    def stage_depth(self) -> tuple[float, ...] | None:
        return self.sd or None

    @property
    def per_stage(self) -> bool:
        return bool(self.sw or self.sd)

    def config(self) -> tuple[float, float, int]:
        """(width, depth, resolution) the engine is asked for, in either mode.

        Compound scaling starts from the chosen backbone's own settings: a preset at phi = 0
        is that preset, and each step of phi scales it further (B3 + phi 1 is not B0 + phi 1).
        """
        if self.mode == "compound":
            start = resolve(self.network)[1]
            compound = CompoundScaling(self.phi, self.alpha, self.beta, self.gamma)
            return (start.width * compound.width, start.depth * compound.depth,
                    compound.resolution(start.resolution))
        return self.width, self.depth, self.resolution

    def to_query(self) -> dict[str, str]:
        """Query-string form; compound-only keys travel only in compound mode, per-stage lists only where set
        (``sw=1,1,1.5,...``), and the spec only for a custom network (``spec=``: compressed, ui.spec_link)."""
        values = asdict(self)
        skip = ("width", "depth", "resolution") if self.mode == "compound" else ("phi", "alpha", "beta", "gamma")
        if self.task == "classification":  # links from before tasks existed stay as they were
            skip += ("task", "head")
        skip += tuple(key for key in ("sw", "sd") if not values[key])
        if self.backbone != CUSTOM:
            skip += ("spec",)
        query = {key: _format(value) for key, value in values.items() if key not in skip}
        if "spec" in query:
            query["spec"] = encode_spec(self.spec)
        return query


def _format(value) -> str:
    if isinstance(value, tuple):
        return format_stages(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def preset_state(backbone: str, state: ExplorerState | None = None, spec: str | None = None) -> ExplorerState:
    """``state`` switched to ``backbone`` with the sliders at that backbone's own values (and phi at 0), every
    stage at 1. For ``backbone`` "custom", ``spec`` (else the state's) is the network, at its own defaults."""
    state = state or ExplorerState()
    state = replace(state, backbone=backbone, spec=state.spec if spec is None else spec, sw=(), sd=())
    _, preset = resolve(state.network)
    return replace(state, width=preset.width, depth=preset.depth, resolution=preset.resolution,
                   phi=0.0 if state.mode == "compound" else state.phi)


_NUMBER_RANGES = {"width": WIDTH_RANGE, "depth": DEPTH_RANGE, "resolution": RESOLUTION_RANGE,
                  "phi": PHI_RANGE, "alpha": COMPOUND_BASE_RANGE, "beta": COMPOUND_BASE_RANGE,
                  "gamma": COMPOUND_BASE_RANGE, "batch": BATCH_RANGE, "threads": THREADS_RANGE}
_WHOLE_NUMBERS = {"resolution", "batch", "threads"}
_CHOICES = {"mode": MODES, "unit": UNITS, "view": VIEWS, "dtype": DTYPES, "device": DEVICES,
            "memory_format": MEMORY_FORMATS, "runtime": RUNTIMES, "task": TASKS,
            "head": tuple(dict.fromkeys(head for heads in HEADS.values() for head in heads)),
            "target": TARGETS}


def last_values(query: dict[str, str | list[str]], warnings: list[str]) -> dict[str, str]:
    """One value per key: a repeated key keeps its last value, with a warning."""
    values = {}
    for key, raw in query.items():
        if isinstance(raw, list):
            if len(raw) > 1:
                warnings.append(f"The link gives {quoted(key)} {len(raw)} times; using the last one.")
            raw = raw[-1] if raw else ""
        values[key] = raw
    return values


def parse_query(query: dict[str, str | list[str]]) -> tuple[ExplorerState, list[str]]:
    """A state from a link's query values (a list per key where keys repeat), and warnings for what changed.

    Warnings quote the link's values as inert text and are capped in number.
    """
    warnings: list[str] = []
    query = last_values(query, warnings)
    backbone, spec = _linked_network(query, warnings)
    state = preset_state(backbone, spec=spec)
    values = {}
    for key, raw in query.items():
        if key in ("backbone", "spec") or key in SESSION_KEYS:
            continue
        if key in ("sw", "sd"):
            stages, problem = parse_stages(raw, stage_count(state.network))
            if problem:
                warnings.append(f"The link's {key}={quoted(raw)} {problem}" + ("." if stages else "; using 1 for "
                                                                                "every stage."))
            if stages and not uniform(stages):
                values[key] = stages
        elif key in _CHOICES:
            if raw in _CHOICES[key]:
                values[key] = raw
            else:
                warnings.append(f"The link's {key}={quoted(raw)} is not one of {', '.join(_CHOICES[key])}; "
                                f"using {getattr(state, key)}.")
        elif key in _NUMBER_RANGES:
            value, warning = _parse_number(key, raw, _NUMBER_RANGES[key], key in _WHOLE_NUMBERS,
                                           getattr(state, key))
            values[key] = value
            if warning:
                warnings.append(warning)
        else:
            warnings.append(f"The link's parameter {quoted(key)} is not used by this page and was ignored.")
    return _valid_task(replace(state, **values), warnings), capped(warnings)


def _linked_network(query: dict[str, str], warnings: list[str]) -> tuple[str, str]:
    """(backbone, canonical spec or "") from a link: a built-in's name, or custom with the link's spec.

    A spec that does not decode or validate is one warning (its text quoted, inert) and the default backbone.
    """
    backbone = query.get("backbone", CUSTOM if "spec" in query else DEFAULT_BACKBONE)
    if backbone == CUSTOM:
        if "spec" not in query:
            warnings.append(f"The link's backbone=custom has no spec; showing {DEFAULT_BACKBONE} instead. Paste or "
                            "upload a spec under Custom.")
            return DEFAULT_BACKBONE, ""
        spec, problem = decode_spec(query["spec"])
        if spec is None:
            warnings.append(f"The link's spec {quoted(query['spec'])} was not used: {quoted(problem, 160)}. Showing "
                            f"{DEFAULT_BACKBONE} instead.")
            return DEFAULT_BACKBONE, ""
        return CUSTOM, spec
    if backbone not in BACKBONE_NAMES:
        warnings.append(f"The link's backbone {quoted(backbone)} is unknown; showing {DEFAULT_BACKBONE} instead. "
                        "Pick one from the sidebar.")
        return DEFAULT_BACKBONE, ""
    if "spec" in query:
        warnings.append(f"The link's spec is used only with backbone=custom (this one is {quoted(backbone)}); it "
                        "was ignored.")
    return backbone, ""


def _valid_task(state: ExplorerState, warnings: list[str]) -> ExplorerState:
    """The link's task and head, if that combination exists for its backbone; else classification, with why.

    Dense tasks are built on the built-ins at uniform scaling only: with per-stage multipliers, classification.
    """
    head = None if state.head == "classifier" and state.task != "classification" else state.head
    if state.task != "classification" and state.per_stage:
        warnings.append(f"The link's task {quoted(state.task)} is built only at uniform scaling, and the link scales "
                        "per stage (sw, sd); showing classification.")
        return replace(state, task="classification", head="classifier")
    try:
        return replace(state, head=check_task(state.network, state.task, head))
    except ScalingError:
        warnings.append(f"The link's task {quoted(state.task)} with head {quoted(state.head)} is not built on "
                        f"{state.network}; showing classification. The combinations that exist: {combinations()}.")
        return replace(state, task="classification", head="classifier")


def _parse_number(key, raw, bounds, whole, default):
    low, high = bounds
    try:
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError
    except ValueError:
        return default, f"The link's {key}={quoted(raw)} is not a number; using {_format(default)}."
    if whole and value != int(value):
        value = min(max(round(value), low), high)
        return value, f"The link's {key}={quoted(raw)} is not a whole number; using {value}."
    clamped = min(max(value, low), high)
    value = int(clamped) if whole else clamped
    if clamped != float(raw):
        return value, (f"The link's {key}={quoted(raw)} is outside {_format(low)} to {_format(high)}; "
                       f"using {_format(value)}.")
    return value, None


@dataclass(frozen=True)
class RoomState:
    """Who is looking, as the link says: the presenter's projector, a student's laptop, and which class."""

    presenter: bool = False
    students: bool = False
    class_code: str = ""

    def to_query(self) -> dict[str, str]:
        """Only what is set, so an ordinary link stays as it was."""
        return {key: value for key, value in (("presenter", "1" if self.presenter else ""),
                                              ("students", "1" if self.students else ""),
                                              ("class", self.class_code)) if value}


def parse_room(query: dict[str, str | list[str]]) -> tuple[RoomState, list[str]]:
    """The room's flags from a link (other keys are the page's); a bad value is dropped with a warning."""
    warnings: list[str] = []
    query = last_values({key: raw for key, raw in query.items() if key in ROOM_KEYS}, warnings)
    flags = {}
    for key in ("presenter", "students"):
        raw = query.get(key, "0")
        if raw not in ("0", "1"):
            warnings.append(f"The link's {key}={quoted(raw)} is not 1 or 0; using 0.")
        flags[key] = raw == "1"
    if flags["presenter"] and flags["students"]:
        warnings.append("The link asks for both presenter=1 and students=1; a students' view is never the "
                        "presenter's, so presenter mode is off.")
        flags["presenter"] = False
    class_code = query.get("class", "")
    if class_code and not CLASS_CODE.fullmatch(class_code):
        warnings.append(f"The link's class={quoted(class_code)} is not a class code (1 to 16 of a-z, 0-9 and "
                        "-); no class tally is kept.")
        class_code = ""
    return RoomState(class_code=class_code, **flags), capped(warnings)


@dataclass(frozen=True)
class CompoundPageState:
    """The Compound page's share link: which base network and which compound rule."""

    backbone: str = "efficientnet_b0"
    alpha: float = DEFAULT_COMPOUND[0]
    beta: float = DEFAULT_COMPOUND[1]
    gamma: float = DEFAULT_COMPOUND[2]
    phi: float = 1.0

    def to_query(self) -> dict[str, str]:
        return {key: _format(value) for key, value in asdict(self).items()}


def parse_compound_query(query: dict[str, str | list[str]]) -> tuple[CompoundPageState, list[str]]:
    """The Compound page's state from its link, with inert, capped warnings for what had to change."""
    warnings: list[str] = []
    query = last_values(query, warnings)
    state, values = CompoundPageState(), {}
    for key, raw in query.items():
        if key in SESSION_KEYS:
            continue
        if key == "backbone":
            if raw in ARCHITECTURES:
                values[key] = raw
            else:
                warnings.append(f"The link's backbone {quoted(raw)} is not a base network; using {state.backbone}.")
        elif key in ("alpha", "beta", "gamma", "phi"):
            values[key], warning = _parse_number(key, raw, _NUMBER_RANGES[key], False, getattr(state, key))
            if warning:
                warnings.append(warning)
        else:
            warnings.append(f"The link's parameter {quoted(key)} is not used by this page and was ignored.")
    return replace(state, **values), capped(warnings)


# What a pin carries besides the network's size: everything that changes one of its numbers. The link writes
# only the ones that differ from the Explorer's defaults, as key=value after backbone:width:depth:resolution.
PIN_SETTINGS = ("task", "head", "batch", "dtype", "runtime", "device", "threads", "memory_format")
# A pin scaled per stage writes its lists too, '_'-separated (',' separates pins): sw=1_1_1.5_1_1_1_1.
STAGE_KEYS = ("sw", "sd")


@dataclass(frozen=True)
class Pin:
    """One pinned network and the settings its numbers were computed (and measured) at."""

    backbone: str
    width: float
    depth: float
    resolution: int
    task: str = "classification"
    head: str = "classifier"
    batch: int = 1
    dtype: str = "float32"
    runtime: str = "torch"
    device: str = "cpu"
    threads: int = 2
    memory_format: str = "contiguous"
    sw: tuple[float, ...] = ()  # per-stage multipliers, as ExplorerState's
    sd: tuple[float, ...] = ()
    # a custom network's canonical spec, as this session has it (title included); the link carries it in specs=
    spec: str = field(default="", repr=False)

    @classmethod
    def of(cls, backbone: str, width: float, depth: float, resolution: int, state: ExplorerState | None = None):
        """A pin of this network at ``state``'s settings (the Explorer's defaults where None).

        ``backbone`` is the engine's name of the network before any per-stage scaling (a built-in's, or a custom
        spec's ``custom-<digest>``); the state's per-stage lists go with it, and its spec for a custom network
        (the session's own text, not whichever title the engine's registry last saw for that digest)."""
        state = state or ExplorerState()
        spec = state.spec if state.backbone == CUSTOM and backbone == state.network else ""
        return cls(backbone, float(width), float(depth), int(resolution),
                   **{key: getattr(state, key) for key in (*PIN_SETTINGS, *STAGE_KEYS)}, spec=spec)

    def extras(self) -> dict[str, str]:
        """The settings that differ from the Explorer's defaults, as the link writes them."""
        defaults = {**{key: getattr(ExplorerState(), key) for key in PIN_SETTINGS}, "head": DEFAULT_HEADS[self.task]}
        return {key: _format(getattr(self, key)) for key in PIN_SETTINGS if getattr(self, key) != defaults[key]}

    def stage_extras(self) -> dict[str, str]:
        """The per-stage lists that are set, as a pin in the link writes them."""
        return {key: format_stages(getattr(self, key), "_") for key in STAGE_KEYS if getattr(self, key)}


def pins_to_query(pins: list[Pin]) -> str:
    """Pinned networks as one query value: 'backbone:width:depth:resolution[:key=value...],...'."""
    return ",".join(":".join([f"{pin.backbone}:{pin.width:g}:{pin.depth:g}:{pin.resolution}",
                              *(f"{key}={value}" for key, value in {**pin.extras(), **pin.stage_extras()}.items())])
                    for pin in pins)


def parse_pins(text: str, custom: frozenset[str] | set[str] = frozenset()) -> tuple[list[Pin], list[str]]:
    """Pinned networks from a link (at most ``MAX_PINS``); a bad entry is skipped or clamped, with a warning.

    ``custom``: the custom networks (``custom-<digest>``) whose specs the link carries; a pin may name those too.
    """
    pins: list[Pin] = []
    warnings: list[str] = []
    tokens = [token for token in text.split(",") if token]
    if len(tokens) > MAX_PINS:
        warnings.append(f"The link has {len(tokens):,} pins; only the first {MAX_PINS} were read.")
        tokens = tokens[:MAX_PINS]
    for token in tokens:
        parts = token.split(":")
        if len(parts) >= 4 and parts[0].startswith("custom-") and parts[0] not in custom:
            warnings.append(f"The link's pin {quoted(token)} names a custom network whose spec the link does not "
                            "carry; it was skipped.")
            continue
        if len(parts) < 4 or parts[0] not in BACKBONE_NAMES and parts[0] not in custom:
            warnings.append(f"The link's pin {quoted(token)} is not backbone:width:depth:resolution with a known "
                            "backbone; it was skipped.")
            continue
        values = []
        for key, raw in zip(("width", "depth", "resolution"), parts[1:4]):
            value, warning = _parse_number(key, raw, _NUMBER_RANGES[key], key in _WHOLE_NUMBERS, None)
            if value is None:
                warnings.append(f"The link's pin {quoted(token)}: {key} {quoted(raw)} is not a number; it was skipped.")
                break
            if warning:
                warnings.append(f"The link's pin {quoted(token)}: " + warning.removeprefix("The link's "))
            values.append(value)
        else:
            settings = _pin_settings(token, parts[0], parts[4:], warnings)
            pins.append(Pin(parts[0], float(values[0]), float(values[1]), int(values[2]), **settings))
    return pins, capped(warnings)


def _pin_settings(token: str, backbone: str, parts: list[str], warnings: list[str]) -> dict:
    """A pin's key=value settings; a bad or unknown one is dropped with a warning (its default stays)."""
    settings: dict = {}
    for part in parts:
        key, _, raw = part.partition("=")
        if key in STAGE_KEYS:
            stages, problem = parse_stages(raw, stage_count(backbone), "_")
            if problem:
                warnings.append(f"The link's pin {quoted(token)}: {key} {problem}" + (
                    "." if stages else "; it was ignored."))
            if stages and not uniform(stages):
                settings[key] = stages
        elif key not in PIN_SETTINGS:
            warnings.append(f"The link's pin {quoted(token)}: {quoted(part)} is not one of "
                            f"{', '.join((*PIN_SETTINGS, *STAGE_KEYS))}; it was ignored.")
        elif key in _NUMBER_RANGES:
            value, warning = _parse_number(key, raw, _NUMBER_RANGES[key], key in _WHOLE_NUMBERS, None)
            if value is None or warning:
                warnings.append(f"The link's pin {quoted(token)}: {key} {quoted(raw)} is not allowed; it was "
                                "ignored.")
            else:
                settings[key] = int(value)
        elif raw in _CHOICES[key]:
            settings[key] = raw
        else:
            warnings.append(f"The link's pin {quoted(token)}: {key}={quoted(raw)} is not one of "
                            f"{', '.join(_CHOICES[key])}; it was ignored.")
    task = settings.get("task", "classification")
    if settings.get("head", DEFAULT_HEADS[task]) not in HEADS[task]:
        warnings.append(f"The link's pin {quoted(token)}: head {quoted(settings['head'])} does not belong to "
                        f"{task}; using {DEFAULT_HEADS[task]}.")
        settings.pop("head")
    settings.setdefault("head", DEFAULT_HEADS[task])
    if task != "classification" and (settings.get("sw") or settings.get("sd")):
        warnings.append(f"The link's pin {quoted(token)}: {task} is built only at uniform scaling; its per-stage "
                        "lists were ignored.")
        settings.pop("sw", None)
        settings.pop("sd", None)
    return settings
