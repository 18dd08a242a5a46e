"""The class tally on the Workshop page: students' predictions go in, the presenter sees them live.

Only a session with a class code votes, only a presenter sees the counts, and a failing store costs
one line (the lesson still works without it).
"""
from __future__ import annotations

import secrets

import pandas as pd
import streamlit as st

from core.measurement.jobs import StoreUnavailable
from core.tally import ClassTally, TallyFull
from ui.lessons import LESSONS, option_text
from ui.room import class_code, presenter
from ui.safe_text import quoted

TALLY_REFRESH_S = 3.0


def _voter() -> str:
    """A random token for this browser session: the store learns nothing else about who voted."""
    return st.session_state.setdefault("tally_voter", secrets.token_hex(16))


def record_prediction(index: int) -> None:
    """A student's new prediction for lesson ``index`` joins the class tally (a presenter's does not)."""
    choice = st.session_state.get(f"lesson_{index}_guess")
    if not class_code() or presenter() or choice is None:
        return
    try:
        ClassTally().record(class_code(), index, _voter(), choice)
        st.session_state["tally_error"] = ""
    except (StoreUnavailable, TallyFull) as error:
        st.session_state["tally_error"] = f"Your prediction is kept here but not in the class tally: {error}."


def tally_notice() -> None:
    """One line when this session's last prediction could not be counted."""
    if st.session_state.get("tally_error"):
        st.caption(st.session_state["tally_error"])


def class_histogram(index: int) -> None:
    """For the presenter: the class's predictions for lesson ``index``, refreshed while the page is open."""
    if presenter() and class_code():
        _live_histogram(index)


@st.fragment(run_every=TALLY_REFRESH_S)
def _live_histogram(index: int) -> None:
    lesson = LESSONS[index - 1]
    try:
        counts = ClassTally().counts(class_code(), index)
    except StoreUnavailable as error:
        st.caption(f"The class tally is unavailable: {error}.")
        return
    total = sum(counts.get(option, 0) for option in lesson.options)
    if not total:
        st.caption(f"Class {quoted(class_code())}: no predictions yet.")
        return
    labels = [option_text(lesson, option) for option in lesson.options]
    votes = [counts.get(option, 0) for option in lesson.options]
    st.caption(f"Class {quoted(class_code())}: {total} prediction{'s' if total != 1 else ''}: "
               + ", ".join(f"{label}: {count}" for label, count in zip(labels, votes)))
    st.bar_chart(pd.DataFrame({"prediction": labels, "students": votes}), x="prediction", y="students",
                 horizontal=True, height=60 + 36 * len(labels), sort=False)
