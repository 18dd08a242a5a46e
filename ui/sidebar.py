"""The Explorer's sidebar and the address bar: controls, the play sweep, share link and link warnings."""
from __future__ import annotations

from dataclasses import fields, replace

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.network.families import BACKBONE_NAMES
from core.network.scaling import DEPTH_RANGE, RESOLUTION_RANGE, WIDTH_RANGE
from core.network.tasks import DEFAULT_HEADS, DEFAULT_RESOLUTION, available
from core.prediction.roofline import target_device_title
from ui.labels import backbone_label
from ui.room import class_code, link_query, presenter, students, students_query
from ui.routing import page_url
from ui.safe_text import quoted
from ui.share import share_popover
from ui.spec_link import CUSTOM, MAX_LINK_CHARS, canonical, spec_arch
from ui.state import (
    BATCH_RANGE,
    COMPOUND_BASE_RANGE,
    DEVICES,
    DTYPES,
    MEMORY_FORMATS,
    MODES,
    PHI_RANGE,
    RUNTIMES,
    TARGETS,
    THREADS_RANGE,
    UNITS,
    ExplorerState,
    parse_query,
    preset_state,
)

PREFIX = "explorer_"
BACKBONE_CHOICES = (CUSTOM, *BACKBONE_NAMES)  # Custom first: a network of your own (ui.spec_editor)
SHOWN_LINK_CHARS = 300  # the sidebar's caption shows a longer link cut short (the Share popover has it whole)
CUSTOM_EDITOR = "explorer_custom_editor"  # the Custom spec editor's popover (ui.spec_editor)
STAGE_EDITOR = "explorer_stage_editor"  # the per-stage table's edits (ui.stage_editor)
# The play sweep, for the projector: which field each scaling mode sweeps, its step per frame and the frame time.
PLAY_FIELDS = {"sliders": ("width", WIDTH_RANGE, 0.1), "compound": ("phi", PHI_RANGE, 0.2)}
PLAY_FRAME_S = 0.5


def _key(field: str) -> str:
    return PREFIX + field


def _state_from_session() -> ExplorerState:
    return ExplorerState(**{field.name: st.session_state[_key(field.name)] for field in fields(ExplorerState)})


def _load_state(state: ExplorerState) -> None:
    for field in fields(ExplorerState):
        st.session_state[_key(field.name)] = getattr(state, field.name)


def explorer_state() -> ExplorerState:
    """The Explorer's state as the session holds it now (for callbacks of the Explorer's other controls)."""
    return _state_from_session()


def set_network(state: ExplorerState) -> None:
    """Store ``state`` as the Explorer's, from a callback that changed its network: the per-stage editor's
    edits belonged to the old one, and a custom or per-stage network is a classifier."""
    if state.backbone == CUSTOM or state.per_stage:
        state = replace(state, task="classification", head="classifier")
    st.session_state.pop(STAGE_EDITOR, None)
    _load_state(state)


def _on_backbone_change() -> None:
    """Picking a backbone moves the sliders to its own (preset) values; a task it is not built for ends.

    Custom keeps the spec this session last used, or starts from the built-in just shown (its exported
    spec: the same network, so the same cards), and opens the spec editor.
    """
    state = _state_from_session()
    spec = state.spec
    if state.backbone == CUSTOM:
        spec = spec or canonical(spec_arch(canonical(st.session_state.get(_key("last_builtin"), "mobilenet_v2"))))
        st.session_state[CUSTOM_EDITOR] = True
    state = preset_state(state.backbone, state, spec)
    st.session_state.pop(STAGE_EDITOR, None)
    heads = available(state.network).get(state.task) if state.backbone != CUSTOM else None
    if heads is None:
        state = replace(state, task="classification", head="classifier")
    elif state.head not in heads:
        state = replace(state, head=heads[0])
    if state.task != "classification":
        state = replace(state, resolution=DEFAULT_RESOLUTION[state.task])
    _load_state(state)


def _on_task_change() -> None:
    """A task starts at its default head (where built) and torchvision's evaluation size."""
    state = _state_from_session()
    heads = available(state.network)[state.task]
    head = DEFAULT_HEADS[state.task] if DEFAULT_HEADS[state.task] in heads else heads[0]
    resolution = DEFAULT_RESOLUTION.get(state.task, preset_state(state.backbone, state).resolution)
    _load_state(replace(state, head=head, resolution=resolution))


def _on_mode_change() -> None:
    """Compound scaling starts at the chosen backbone itself (phi 0), not one step up; a sweep stops."""
    st.session_state[_key("play")] = False
    if st.session_state[_key("mode")] == "compound":
        st.session_state[_key("phi")] = 0.0


def _start_play() -> None:
    """A sweep starts from the low end of its range."""
    if st.session_state[_key("play")]:
        field, (low, _), _ = PLAY_FIELDS[st.session_state[_key("mode")]]
        st.session_state[_key(field)] = low


def _advance_play() -> None:
    """The sweep's next frame, before the sliders are drawn: one step up, or the end of the sweep."""
    if not st.session_state.get(_key("play")) or not st.session_state.pop(_key("play_due"), False):
        return
    field, (_, high), step = PLAY_FIELDS[st.session_state[_key("mode")]]
    value = round(st.session_state[_key(field)] + step, 6)
    if value > high:
        st.session_state[_key("play")] = False
    else:
        st.session_state[_key(field)] = value


@st.fragment(run_every=PLAY_FRAME_S)
def _play_timer() -> None:
    """Each tick asks the whole page for the next frame. Its first call is part of the page's own run
    (armed just before it), where there is nothing to ask."""
    if st.session_state.pop(_key("play_armed"), False):
        return
    if st.session_state.get(_key("play")):
        st.session_state[_key("play_due")] = True
        st.rerun()


def play_control() -> None:
    """Play (on) / stop (off) for the current mode's sweep: width, or phi in compound mode."""
    field = PLAY_FIELDS[st.session_state[_key("mode")]][0]
    st.sidebar.toggle(f"Play: sweep {field}", key=_key("play"), on_change=_start_play,
                      help="Steps through the whole range, frame by frame, for a projector; stops at the end")
    if st.session_state[_key("play")]:
        st.session_state[_key("play_armed")] = True
        _play_timer()


def task_controls(state: ExplorerState) -> None:
    """Task and head, offered only where the backbone is built for them (the link's are checked in ui.state).

    A custom or per-stage network is a classifier: the control says why it offers nothing else.
    """
    uniform_built_in = state.backbone != CUSTOM and not state.per_stage
    tasks = available(state.network) if uniform_built_in else {"classification": ("classifier",)}
    why = ("" if uniform_built_in else " Segmentation and detection are built only on the built-in backbones at "
           "uniform scaling (torchvision's taps and dilations belong to them): a custom or per-stage network is "
           "counted as a classifier.")
    st.sidebar.selectbox("Task", tuple(tasks), key=_key("task"), on_change=_on_task_change, persist_state="session",
                         help="Segmentation and detection count the backbone with torchvision's heads (dilated "
                              "last stages; feature pyramid): width and depth scale the backbone only." + why)
    if not uniform_built_in:
        st.sidebar.caption("Classification only: dense tasks are built on the built-ins at uniform scaling.")
    if st.session_state[_key("task")] != "classification":
        st.sidebar.selectbox("Head", tasks[st.session_state[_key("task")]], key=_key("head"),
                             persist_state="session")


def explorer_sidebar() -> tuple[DeltaGenerator, DeltaGenerator]:
    """The Explorer's controls that choose the network and its units; state starts from the link once per
    session. Returns two places in the sidebar for ``scaling_controls`` and the page's pin and share link:
    those change on every slider move, so the page's results fragment draws them (a move reruns only it)."""
    if _key("loaded") not in st.session_state:
        state, warnings = parse_query({key: st.query_params.get_all(key) for key in st.query_params})
        _load_state(state)
        st.session_state[_key("loaded")] = True
        st.session_state[_key("warnings")] = warnings
    _advance_play()
    sidebar = st.sidebar
    sidebar.selectbox("Backbone or preset", BACKBONE_CHOICES, key=_key("backbone"), format_func=backbone_label,
                      on_change=_on_backbone_change, persist_state="session",
                      help="Custom: a network of your own, from a spec you paste, upload or start from a built-in")
    if st.session_state[_key("backbone")] == CUSTOM:
        arch = spec_arch(st.session_state[_key("spec")])
        sidebar.caption(f"Your network: {quoted(arch.title, 60)}, {len(arch.stages)} stages ({arch.name}). Edit "
                        "it under **Custom network** above the drawing.")
    else:
        st.session_state[_key("last_builtin")] = st.session_state[_key("backbone")]
    task_controls(_state_from_session())
    sidebar.segmented_control("Scaling", MODES, key=_key("mode"), required=True, persist_state="session",
                              on_change=_on_mode_change,
                              format_func=lambda mode: {"sliders": "Width / depth / resolution",
                                                        "compound": "Compound (phi)"}[mode])
    sliders = sidebar.container()
    if not students():
        play_control()
    sidebar.segmented_control("Cost unit", UNITS, key=_key("unit"), required=True, persist_state="session",
                              help="FLOPs = 2 x MACs (a multiply and an add counted apart)")
    if not students():  # a students' link keeps its dtype and batch (or the defaults) without showing them
        precision, batch = sidebar.columns(2)
        precision.selectbox("dtype", DTYPES, key=_key("dtype"), persist_state="session",
                            help="Activation memory and latency are for this dtype (int8 latency: runtime "
                                 "onnxruntime)")
        batch.number_input("Batch", *BATCH_RANGE, key=_key("batch"), persist_state="session",
                           help="Activation memory and latency are for this batch")
    sidebar.selectbox("Predict latency on", TARGETS, key=_key("target"), persist_state="session",
                      format_func=target_device_title,
                      help="This host: the model calibrated on it. Another device: a roofline lower bound from its "
                           "published peaks (the Latency view draws every layer on it)")
    st.session_state[_key("drawn_network")] = _network_of(_state_from_session())
    return sliders, sidebar.container()


def _network_of(state: ExplorerState) -> tuple:
    """What the sidebar's controls outside the results fragment were drawn for (the network caption, the
    tasks it is built for): the fragment's own editors change it, and then the whole page reruns."""
    return state.backbone, state.spec, state.sw, state.sd


def scaling_controls(sliders: DeltaGenerator) -> ExplorerState:
    """The scaling mode's sliders in ``sliders`` (from ``explorer_sidebar``); the state they make, written to
    the address bar."""
    if st.session_state[_key("mode")] == "sliders":
        sliders.slider("Width multiplier (channels)", *WIDTH_RANGE, step=0.05, key=_key("width"),
                       persist_state="session", help="Every layer's channels x width, rounded to a multiple of 8")
        sliders.slider("Depth multiplier (repeats)", *DEPTH_RANGE, step=0.1, key=_key("depth"),
                       persist_state="session", help="Each stage repeats ceil(repeats x depth) blocks")
        sliders.slider("Resolution (px)", *RESOLUTION_RANGE, step=1, key=_key("resolution"),
                       persist_state="session")
    else:
        sliders.slider("Compound coefficient phi", *PHI_RANGE, step=0.1, key=_key("phi"), persist_state="session",
                       help="Starting from the chosen backbone's own settings: depth x alpha^phi, width x beta^phi, "
                            "resolution x gamma^phi")
        columns = sliders.columns(3)
        for column, name in zip(columns, ("alpha", "beta", "gamma")):
            column.number_input(name, *COMPOUND_BASE_RANGE, step=0.01, key=_key(name), persist_state="session")
    state = _state_from_session()
    if _network_of(state) != st.session_state.get(_key("drawn_network")):
        st.rerun()  # the spec or per-stage editor (in the fragment) changed the network: redraw the sidebar too
    sync_query(state.to_query())
    return state


def latency_controls(devices: list[str], cores: int) -> None:
    """Where and how latency is measured: part of the Explorer's state, so the share link carries it.

    A students' link shows the settings as a line instead: they stay as the link (or the defaults) set them.
    """
    if students():
        state = _state_from_session()
        st.caption(f"Measured with {state.runtime} on {state.device}, {state.threads} threads, "
                   f"{state.memory_format}, {state.dtype}, batch {state.batch} (set by the link).")
        return
    columns = st.columns([1.1, 0.9, 0.9, 1.3])  # each segmented control's labels on one line at 1280 px
    columns[0].segmented_control("Runtime", RUNTIMES, key=_key("runtime"), required=True, persist_state="session",
                                 help="torch: eager PyTorch. onnxruntime: the same module exported to ONNX (float32, "
                                      "or int8 by static quantization); export and quantization count in the cap")
    columns[1].selectbox("Device", DEVICES, key=_key("device"), persist_state="session",
                         format_func=lambda device: device if device in devices else f"{device} (not on this server)")
    columns[2].number_input("CPU threads", *THREADS_RANGE, key=_key("threads"), persist_state="session",
                            help=f"intra-op threads, set for every run (this server has {cores} cores)")
    onnx = st.session_state[_key("runtime")] != "torch"
    columns[3].segmented_control("Memory format", MEMORY_FORMATS, key=_key("memory_format"), required=True,
                                 persist_state="session", disabled=onnx,
                                 help="torch only: onnxruntime picks its own layout" if onnx else None)


def open_in_explorer(state: ExplorerState) -> None:
    """Switch to the Explorer showing ``state``, in this session (pins and answers stay)."""
    _load_state(state)
    st.session_state[_key("loaded")] = True
    st.session_state[_key("warnings")] = []
    st.switch_page("pages/explorer.py")


def sync_query(query: dict[str, str]) -> None:
    """Make the address bar hold ``query`` and the room's part of every link (written only when it differs)."""
    query = {**query, **link_query(query)}
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)


def share_link(query: dict[str, str], url_path: str = "", place: DeltaGenerator | None = None) -> None:
    """The link that reopens this exact view, for page ``url_path`` ('' is the Explorer), with its copy button
    and QR code in the Share popover (and, for a presenter with a class code, the students' link); its
    caption in ``place`` (the end of the sidebar)."""
    place = st.sidebar if place is None else place
    link = page_url(st.context.url or "", url_path, {**query, **link_query(query)})
    # Inline code, not st.code: a code block makes every new browser load the syntax highlighter (the
    # popover's code block loads only when it is opened). A long link (a custom network's spec) is cut short.
    if len(link) > MAX_LINK_CHARS:
        place.caption(f"This view's link would be {len(link):,} characters, more than the {MAX_LINK_CHARS:,} "
                           "browsers and chat apps reliably keep: **Share** offers the spec as a file instead.")
    elif len(link) > SHOWN_LINK_CHARS:
        place.caption(f"Share this view (the address bar holds the same state):\n\n`{link[:120]}…` "
                           f"({len(link):,} characters, with the network's spec: copy it from **Share**)")
    else:
        place.caption(f"Share this view (the address bar holds the same state):\n\n`{link}`")
    students_link = (page_url(st.context.url or "", url_path, {**query, **students_query()})
                     if presenter() and class_code() else None)
    share_popover(link, students_link, lambda: _shared_specs(query))


def _shared_specs(query: dict[str, str]) -> list[tuple[str, str]]:
    """(file name, pretty JSON) of each spec this view's link carries: the page's network and pinned ones."""
    import json

    from ui.pins import pinned_specs

    texts = list(dict.fromkeys(([st.session_state[_key("spec")]] if "spec" in query else []) + pinned_specs()))
    return [(f"{spec_arch(text).name}.json", json.dumps(json.loads(text), indent=1)) for text in texts]


def url_warnings(key: str = _key("warnings")) -> None:
    """Warnings about a link's bad values (kept in session state under ``key``) until dismissed."""
    warnings = st.session_state.get(key)
    if warnings:
        st.warning("This link had values that could not be used as they were:\n\n" +
                   "\n".join(f"- {warning}" for warning in warnings))
        if st.button("Dismiss", key=f"{key}_dismiss"):
            st.session_state[key] = []
            st.rerun()
