"""Workshop: guided lessons, each a predict-then-reveal exercise checked against the live engine."""
from dataclasses import dataclass

import streamlit as st

import core
from core.units import si


@dataclass(frozen=True)
class Lesson:
    title: str
    explanation: str
    question: str
    before: tuple
    after: tuple
    options: tuple[float, ...]
    why: str


LESSONS = (
    Lesson("Width: more channels",
           "The width multiplier scales every layer's channels (rounded to multiples of 8). A standard conv's "
           "MACs are in_channels x out_channels x k^2 x H x W: both channel counts grow, so cost grows about "
           "with width squared. A depthwise conv has one input channel per output channel and grows only "
           "linearly.",
           "MobileNet V2 at 224 px goes from width 1.0 to width 2.0. By about how much do its MACs grow?",
           ("mobilenet_v2", 1.0, 1.0, 224), ("mobilenet_v2", 2.0, 1.0, 224), (2.0, 3.5, 8.0),
           "Pointwise (1x1) convs dominate and grow x4; depthwise convs grow only x2, which pulls the total "
           "below x4."),
    Lesson("Depth: more layers",
           "The depth multiplier repeats each stage's blocks: ceil(repeats x depth). The added blocks keep "
           "the stage's width and stride 1, so each adds its share of cost again: cost grows about linearly.",
           "EfficientNet-B0 at 224 px goes from depth 1.0 to depth 2.0. By about how much do its MACs grow?",
           ("efficientnet_b0", 1.0, 1.0, 224), ("efficientnet_b0", 1.0, 2.0, 224), (1.3, 1.8, 4.0),
           "Every stage doubles its blocks, but the stem, the head and each stage's first (strided) block "
           "are not repeated, so the total grows a little less than x2."),
    Lesson("Resolution: more pixels",
           "Resolution changes no weight: parameters stay put. Every feature map grows with the input side "
           "squared, so MACs and activation memory grow about with resolution squared.",
           "ResNet-50 goes from 224 px to 448 px. By about how much do its MACs grow?",
           ("resnet50", 1.0, 1.0, 224), ("resnet50", 1.0, 1.0, 448), (2.0, 4.0, 8.0),
           "Twice the side is four times the pixels at every layer; only the classifier, which sees a "
           "pooled vector, does not grow."),
    Lesson("Compound: all three at once",
           "EfficientNet scales depth by alpha^phi, width by beta^phi and resolution by gamma^phi with "
           "alpha = 1.2, beta = 1.1, gamma = 1.15, chosen so that alpha x beta^2 x gamma^2 is about 2.",
           "EfficientNet-B0 at phi = 1 (depth 1.2, width 1.1, 258 px). By about how much do its MACs grow?",
           ("efficientnet_b0", 1.0, 1.0, 224), ("efficientnet_b0", 1.1, 1.2, 258), (1.3, 2.5, 4.0),
           "Theory says (1.2 x 1.1^2 x 1.15^2)^1 = 1.92; ceil() on the repeats and rounding channels to 8 "
           "make the exact count a little higher."),
)


def _ratio(lesson: Lesson) -> tuple[float, core.Profile, core.Profile]:
    before, after = core.profile(*lesson.before), core.profile(*lesson.after)
    return after.macs / before.macs, before, after


st.title("Workshop")
presenter = st.toggle("Presenter mode (larger text for a projector)", key="workshop_presenter")
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
            ratio, before, after = _ratio(lesson)
            closest = min(lesson.options, key=lambda option: abs(option - ratio))
            verdict = "Right" if guess == closest else f"Not quite: the closest answer is x{closest:g}"
            (st.success if guess == closest else st.info)(
                f"**{verdict}.** Exact: {si(before.macs)} -> {si(after.macs)} MACs, **x{ratio:.2f}**; "
                f"params {si(before.params)} -> {si(after.params)} (x{after.params / before.params:.2f}). "
                + lesson.why)
