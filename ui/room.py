"""Tools for the room, on every page: presenter mode, the students' view, the class code, and what every
page's link carries besides the page's own state (the room's flags, pins and Workshop answers), so that a
reload or a shared link brings them back.

``room()`` runs once per script run from app.py, before the page: it reads the link once per session,
draws the room's controls at the top of the sidebar and leaves the share popover for the page to fill.
"""
from __future__ import annotations

import secrets

import streamlit as st

from ui.lessons import LESSONS, answers_to_query, parse_answers
from ui.pins import pinned, pinned_specs, pins, restore_pins
from ui.spec_link import encode_spec, encode_specs
from ui.state import CLASS_CODE, RoomState, parse_room, pins_to_query

# Larger text for the back of the room, on whichever page is projected (the sidebar keeps its size).
PRESENTER_CSS = """<style>
.stMainBlockContainer p, .stMainBlockContainer li, .stMainBlockContainer label {font-size: 1.4rem !important;}
.stMainBlockContainer h1 {font-size: 3.2rem !important;}
.stMainBlockContainer h3 {font-size: 2.1rem !important;}
</style>"""
SHARE_SLOT = "room_share_slot"


def presenter() -> bool:
    return bool(st.session_state.get("room_presenter"))


def students() -> bool:
    """A students' link: only the lesson's sliders; advanced controls keep the link's (or default) values."""
    return bool(st.session_state.get("room_students"))


def class_code() -> str:
    return st.session_state.get("room_class", "")


def room() -> None:
    """The link's room flags, pins and answers (once per session), then the room's controls for this run."""
    if "room_loaded" not in st.session_state:
        query = {key: st.query_params.get_all(key) for key in st.query_params}
        state, warnings = parse_room(query)
        st.session_state.update(room_presenter=state.presenter, room_students=state.students,
                                room_class=state.class_code)
        restore_pins({key: st.query_params.get(key, "") for key in ("pins", "spec", "specs")})
        answers, answer_warnings = parse_answers(st.query_params.get("answers", ""))
        for index, (choice, revealed) in answers.items():
            st.session_state[f"lesson_{index}_guess"] = choice
            st.session_state[f"lesson_{index}_revealed"] = revealed
        st.session_state["room_warnings"] = warnings + answer_warnings
        st.session_state["room_loaded"] = True
    share, toggle = st.sidebar.columns([1, 1.2], vertical_alignment="center")
    # Filled by the page (ui.sidebar.share_link), which knows its own link; its content runs only while open.
    st.session_state[SHARE_SLOT] = share.popover("Share", icon=":material/qr_code_2:", key="room_share",
                                                 on_change="rerun", width="stretch",
                                                 help="This view's link: copy it, or show its QR code")
    if not students():
        toggle.toggle("Presenter", key="room_presenter", persist_state="session")
    if presenter():
        st.html(PRESENTER_CSS)
    from ui.sidebar import url_warnings  # ui.sidebar imports this module

    url_warnings("room_warnings")


def workshop_answers() -> dict[int, tuple[float, bool]]:
    """This session's Workshop answers: lesson number -> (choice, revealed), for the lessons answered."""
    answers = {}
    for index in range(1, len(LESSONS) + 1):
        choice = st.session_state.get(f"lesson_{index}_guess")
        if choice is not None:
            answers[index] = (choice, bool(st.session_state.get(f"lesson_{index}_revealed")))
    return answers


def link_query(page_query: dict[str, str] | None = None) -> dict[str, str]:
    """What every page's link carries besides the page's own state (``page_query``): the room, the pins and the
    specs of pinned custom networks (``specs=``), less the one the page's own ``spec=`` already carries."""
    query = RoomState(presenter(), students(), class_code()).to_query()
    if pins():
        query["pins"] = pins_to_query(pinned())
        own = (page_query or {}).get("spec")
        specs = tuple(spec for spec in pinned_specs() if encode_spec(spec) != own)
        if specs:
            query["specs"] = encode_specs(specs)
    answers = answers_to_query(workshop_answers())
    if answers:
        query["answers"] = answers
    return query


def students_query() -> dict[str, str]:
    """The room part of the link a presenter gives the class: students' view, this class, nobody's answers."""
    return RoomState(students=True, class_code=class_code()).to_query()


def class_code_input() -> None:
    """The presenter's class code (for the tally): typed, or a fresh random one."""
    st.text_input("Class code (1 to 16 of a-z, 0-9, -)", value=class_code(), key="room_class_input",
                  on_change=_set_class_code, max_chars=16)
    st.button("New class code", key="room_new_class", on_click=_new_class_code, icon=":material/casino:")
    if st.session_state.get("room_class_error"):
        st.caption(st.session_state["room_class_error"])


def _set_class_code() -> None:
    code = st.session_state["room_class_input"].strip().lower()
    if code and not CLASS_CODE.fullmatch(code):
        st.session_state["room_class_error"] = "Not a class code: use 1 to 16 of a-z, 0-9 and -."
        return
    st.session_state.update(room_class=code, room_class_error="")


def _new_class_code() -> None:
    st.session_state.update(room_class=secrets.token_hex(3), room_class_error="")
    st.session_state.pop("room_class_input", None)
