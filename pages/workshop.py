"""Workshop: guided lessons, each a predict-then-reveal exercise checked against the live engine."""
import streamlit as st

from core.units import si
from ui.lessons import LESSONS, closest_option, exact_ratio, model_view, option_text, top1_gain
from ui.room import class_code, presenter
from ui.routing import require_router
from ui.sidebar import open_in_explorer, share_link, sync_query
from ui.state import ExplorerState
from ui.tally import class_histogram, record_prediction, tally_notice

# A revealed answer is locked (a disabled radio, which Streamlit fades to 40%), but must stay readable from
# the back of the room: the options in the text colour, the chosen one in bold.
LOCKED_ANSWER_CSS = """<style>
[class*="st-key-lesson_"][class*="_guess"] [data-testid="stRadio"] * {color: inherit !important;}
[class*="st-key-lesson_"][class*="_guess"] [data-testid="stRadioOption"]:has(input:checked) p {font-weight: 700;}
</style>"""


def reset_answers() -> None:
    """Clear every guess and reveal, for the next class (the radios show no choice again)."""
    for index in range(1, len(LESSONS) + 1):
        st.session_state[f"lesson_{index}_guess"] = None
        st.session_state[f"lesson_{index}_revealed"] = False


def reveal(index: int) -> None:
    st.session_state[f"lesson_{index}_revealed"] = True


require_router()
st.html(LOCKED_ANSWER_CSS)
sync_query({})  # the page's state is the room's part of the link: answers, pins, class code
share_link({}, "workshop")
left, right = st.columns([2, 1], vertical_alignment="bottom")
left.title("Workshop")
right.button("Reset all answers", key="workshop_reset", on_click=reset_answers, icon=":material/restart_alt:")
st.caption("Each lesson: read, predict, then reveal the exact answer from the engine. MACs = multiply-"
           "accumulates of conv and linear layers.")
if presenter() and not class_code():
    st.caption("For the class's predictions, set a class code under Share and give the class its students' link.")
tally_notice()

for index, lesson in enumerate(LESSONS, start=1):
    with st.container(border=True):
        st.subheader(f"Lesson {index}. {lesson.title}")
        st.markdown(lesson.explanation)
        revealed = st.session_state.get(f"lesson_{index}_revealed", False)
        guess = st.radio(lesson.question, lesson.options, index=None, horizontal=True, disabled=revealed,
                         format_func=lambda option, lesson=lesson: option_text(lesson, option),
                         key=f"lesson_{index}_guess", on_change=record_prediction, args=(index,),
                         persist_state="session", help="Locked once revealed: reset all answers to try again")
        class_histogram(index)
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
