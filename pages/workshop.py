"""Workshop: guided lessons, each a predict-then-reveal exercise checked against the live engine."""
import streamlit as st

from core.units import si
from ui.lessons import LESSONS, closest_option, exact_ratio, model_view, option_text, top1_gain
from ui.routing import require_router
from ui.sidebar import open_in_explorer
from ui.state import ExplorerState

PRESENTER_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"] {display: none;}
.stMainBlockContainer p, .stMainBlockContainer li, .stMainBlockContainer label {font-size: 1.4rem !important;}
.stMainBlockContainer h1 {font-size: 3.2rem !important;}
.stMainBlockContainer h3 {font-size: 2.1rem !important;}
</style>"""


def reset_answers() -> None:
    """Clear every guess and reveal, for the next class (the radios show no choice again)."""
    for index in range(1, len(LESSONS) + 1):
        st.session_state[f"lesson_{index}_guess"] = None
        st.session_state[f"lesson_{index}_revealed"] = False


def reveal(index: int) -> None:
    st.session_state[f"lesson_{index}_revealed"] = True


require_router()
st.title("Workshop")
left, right = st.columns([2, 1], vertical_alignment="center")
presenter = left.toggle("Presenter mode (larger text, no sidebar)", key="workshop_presenter",
                        persist_state="session")
right.button("Reset all answers", key="workshop_reset", on_click=reset_answers, icon=":material/restart_alt:")
if presenter:
    st.html(PRESENTER_CSS)
st.caption("Each lesson: read, predict, then reveal the exact answer from the engine. MACs = multiply-"
           "accumulates of conv and linear layers.")

for index, lesson in enumerate(LESSONS, start=1):
    with st.container(border=True):
        st.subheader(f"Lesson {index}. {lesson.title}")
        st.markdown(lesson.explanation)
        revealed = st.session_state.get(f"lesson_{index}_revealed", False)
        guess = st.radio(lesson.question, lesson.options, index=None, horizontal=True, disabled=revealed,
                         format_func=lambda option, lesson=lesson: option_text(lesson, option),
                         key=f"lesson_{index}_guess",
                         persist_state="session", help="Locked once revealed: reset all answers to try again")
        st.button("Reveal", key=f"lesson_{index}_reveal", disabled=guess is None or revealed,
                  on_click=reveal, args=(index,))
        if revealed:
            closest = closest_option(lesson)
            verdict = ("Right" if guess == closest else
                       f"Not quite: the closest answer is {option_text(lesson, closest).removeprefix('about ')}")
            if lesson.metric == "top1":
                gain, before, after = top1_gain(lesson)
                exact = (f"Published: {before.top1:.1f}% -> {after.top1:.1f}%, **+{gain:.1f} points** "
                         f"({after.sources[0]}). {lesson.why} {model_view(lesson)}")
            else:
                ratio, before, after = exact_ratio(lesson)
                exact = (f"Exact: {si(before.macs)} -> {si(after.macs)} MACs, **x{ratio:.2f}**; params "
                         f"{si(before.params)} -> {si(after.params)} (x{after.params / before.params:.2f}). "
                         + lesson.why)
            (st.success if guess == closest else st.info)(f"**{verdict}.** {exact}")
            backbone, width, depth, resolution = lesson.after
            if st.button("Open this network in the Explorer", key=f"lesson_{index}_open",
                         icon=":material/tune:", help="See where the cost goes, layer by layer"):
                open_in_explorer(ExplorerState(backbone=backbone, width=width, depth=depth, resolution=resolution,
                                               view=lesson.view, task=lesson.task, head=lesson.head))
