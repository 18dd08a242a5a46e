"""Workshop: guided lessons, each a predict-then-reveal exercise checked against the live engine."""
from urllib.parse import urlencode

import streamlit as st

from core.units import si
from ui.lessons import LESSONS, closest_option, exact_ratio
from ui.routing import require_router
from ui.state import ExplorerState


def reset_answers() -> None:
    """Clear every guess and reveal, for the next class."""
    for index in range(1, len(LESSONS) + 1):
        for suffix in ("guess", "revealed"):
            st.session_state.pop(f"lesson_{index}_{suffix}", None)


require_router()
st.title("Workshop")
left, right = st.columns([3, 1])
presenter = left.toggle("Presenter mode (larger text for a projector)", key="workshop_presenter")
right.button("Reset all answers", key="workshop_reset", on_click=reset_answers, icon=":material/restart_alt:",
             width="stretch")
if presenter:
    st.html("<style>.stMainBlockContainer p, .stMainBlockContainer li, .stMainBlockContainer label "
            "{font-size: 1.35rem !important;}</style>")
st.caption("Each lesson: read, predict, then reveal the exact answer from the engine. MACs = multiply-"
           "accumulates of conv and linear layers.")

for index, lesson in enumerate(LESSONS, start=1):
    with st.container(border=True):
        st.subheader(f"Lesson {index}. {lesson.title}")
        st.markdown(lesson.explanation)
        guess = st.radio(lesson.question, lesson.options, index=None, horizontal=True,
                         format_func=lambda option: f"about x{option:g}", key=f"lesson_{index}_guess")
        revealed = st.session_state.get(f"lesson_{index}_revealed", False)
        if st.button("Reveal", key=f"lesson_{index}_reveal", disabled=guess is None and not revealed):
            st.session_state[f"lesson_{index}_revealed"] = revealed = True
        if revealed:
            ratio, before, after = exact_ratio(lesson)
            closest = closest_option(lesson)
            verdict = "Right" if guess == closest else f"Not quite: the closest answer is x{closest:g}"
            (st.success if guess == closest else st.info)(
                f"**{verdict}.** Exact: {si(before.macs)} -> {si(after.macs)} MACs, **x{ratio:.2f}**; "
                f"params {si(before.params)} -> {si(after.params)} (x{after.params / before.params:.2f}). "
                + lesson.why)
            backbone, width, depth, resolution = lesson.after
            query = ExplorerState(backbone=backbone, width=width, depth=depth, resolution=resolution,
                                  view="inside").to_query()
            st.markdown(f"[Open this network in the Explorer](./?{urlencode(query)}) to see where the cost goes, "
                        "layer by layer.")
