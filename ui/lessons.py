"""Workshop lessons: predict-then-reveal exercises whose answers come from the live engine."""
from __future__ import annotations

from dataclasses import dataclass

import core
from core.published import reference
from ui.safe_text import capped, quoted


@dataclass(frozen=True)
class Lesson:
    title: str
    explanation: str
    question: str
    before: tuple
    after: tuple
    options: tuple[float, ...]
    answer: float
    why: str
    task: str = "classification"
    head: str = "classifier"
    metric: str = "macs"  # "macs": after / before cost; "top1": after - before top-1, in points
    view: str = "inside"  # the Explorer view "Open this network" shows


LESSONS = (
    Lesson("Width: more channels",
           "The width multiplier scales every layer's channels (rounded to multiples of 8). A standard conv's "
           "MACs are in_channels x out_channels x k^2 x H x W: both channel counts grow, so cost grows about "
           "with width squared. A depthwise conv has one input channel per output channel and grows only "
           "linearly.",
           "MobileNet V2 at 224 px goes from width 1.0 to width 2.0. By about how much do its MACs grow?",
           ("mobilenet_v2", 1.0, 1.0, 224), ("mobilenet_v2", 2.0, 1.0, 224), (2.0, 3.5, 8.0), 3.5,
           "Pointwise (1x1) convs dominate and grow x4; depthwise convs grow only x2, which pulls the total "
           "below x4."),
    Lesson("Depth: more layers",
           "The depth multiplier repeats each stage's blocks: ceil(repeats x depth). The added blocks keep "
           "the stage's width and stride 1, so each adds its share of cost again: cost grows about linearly.",
           "EfficientNet-B0 at 224 px goes from depth 1.0 to depth 2.0. By about how much do its MACs grow?",
           ("efficientnet_b0", 1.0, 1.0, 224), ("efficientnet_b0", 1.0, 2.0, 224), (1.5, 2.0, 4.0), 2.0,
           "Every stage doubles its blocks. The stem and head are not repeated (pulling below x2), but the added "
           "blocks take the stage's output width as input, wider than its first block's (pushing above x2)."),
    Lesson("Resolution: more pixels",
           "Resolution changes no weight: parameters stay put. Every feature map grows with the input side "
           "squared, so MACs and activation memory grow about with resolution squared.",
           "ResNet-50 goes from 224 px to 448 px. By about how much do its MACs grow?",
           ("resnet50", 1.0, 1.0, 224), ("resnet50", 1.0, 1.0, 448), (2.0, 4.0, 8.0), 4.0,
           "Twice the side is four times the pixels at every layer; only the classifier, which sees a "
           "pooled vector, does not grow."),
    Lesson("Width in a dense task: the head does not shrink",
           "Segmentation changes where the cost sits. torchvision's DeepLabV3 runs ResNet-50's last two stages "
           "dilated (output stride 8: 65x65 maps at 520 px instead of 33 and 17) and adds an ASPP head with a "
           "fixed 256 channels: three dilated 3x3 convs and a 1x1 on the backbone's 2048 channels, then more "
           "256-channel convs. Width scales the backbone; the head's output widths stay put. In classification "
           "at 224 px, width 0.5 cuts ResNet-50's MACs to x0.26.",
           "ResNet-50 DeepLabV3 at 520 px goes from width 1.0 to width 0.5. By about how much do its MACs change?",
           ("resnet50", 1.0, 1.0, 520), ("resnet50", 0.5, 1.0, 520), (0.25, 0.36, 0.5), 0.36,
           "The backbone falls to about a quarter, as in classification, but the ASPP head is 39% of the cost and "
           "only its input width halves (2048 -> 1024 channels in, 256 out), so its MACs halve instead: the head "
           "becomes over half the network, and the total falls to x0.36, not x0.26.",
           task="segmentation", head="deeplabv3"),
    Lesson("Compound: all three at once",
           "EfficientNet scales depth by alpha^phi, width by beta^phi and resolution by gamma^phi with "
           "alpha = 1.2, beta = 1.1, gamma = 1.15, chosen so that alpha x beta^2 x gamma^2 is about 2.",
           "EfficientNet-B0 at phi = 1 (depth 1.2, width 1.1, 258 px). By about how much do its MACs grow?",
           ("efficientnet_b0", 1.0, 1.0, 224), ("efficientnet_b0", 1.1, 1.2, 258), (1.5, 2.5, 4.0), 2.5,
           "Theory says (1.2 x 1.1^2 x 1.15^2)^1 = 1.92, but whole numbers intervene: ceil(1 x 1.2) = 2 doubles "
           "every one-block stage, and rounding to multiples of 8 turns 40 x 1.1 = 44 channels into 48."),
    Lesson("Why compound scaling wins: each axis flattens on its own",
           "Tan & Le scaled EfficientNet-B0 to about 1.8 B FLOPS two ways and trained both (Table 7): resolution "
           "alone (r = 2, 448 px) and compound (width 1.2, depth 1.4, 291 px). Their engine counts are close "
           "(1.54 G and 1.80 G MACs). On \"Where it sits\", the teal lines are a scaling model fitted to every "
           "published EfficientNet result: each axis alone rises steeply at first, then flattens.",
           "How many points of ImageNet top-1 does the compound network gain over resolution alone?",
           ("efficientnet_b0", 1.0, 1.0, 448), ("efficientnet_b0", 1.2, 1.4, 291), (0.2, 2.0, 6.0), 2.0,
           "At r = 2 resolution is already on the flat part of its own curve; compound spends the same cost on "
           "three axes that are each still on their steep start, so their gains add up.",
           metric="top1", view="position"),
)


def exact_ratio(lesson: Lesson) -> tuple[float, core.Profile, core.Profile]:
    task = dict(task=lesson.task, head=lesson.head)
    before, after = core.profile(*lesson.before, **task), core.profile(*lesson.after, **task)
    return after.macs / before.macs, before, after


def top1_gain(lesson: Lesson) -> tuple[float, reference.AccuracyEstimate, reference.AccuracyEstimate]:
    """Top-1 after minus before (both published here), with the two estimates."""
    before, after = reference.estimate_top1(*lesson.before), reference.estimate_top1(*lesson.after)
    return after.top1 - before.top1, before, after


def exact_answer(lesson: Lesson) -> float:
    """The engine's exact ratio, or for a top-1 lesson the published gain in points."""
    return top1_gain(lesson)[0] if lesson.metric == "top1" else exact_ratio(lesson)[0]


def option_text(lesson: Lesson, option: float) -> str:
    return f"about +{option:g} points" if lesson.metric == "top1" else f"about x{option:g}"


def model_view(lesson: Lesson) -> str:
    """What the fitted model says about a top-1 lesson's network: where its axis alone levels off."""
    family = reference.family_for(lesson.after[0])
    model = reference.fitted_models()[family.name]
    limits = ", ".join(f"{axis} alone near {model.axis_limit(axis):.1f}%" for axis in ("width", "depth", "resolution"))
    return (f"The fitted model of {family.title} levels off with {limits}, and all three together head for "
            f"{model.ceiling:.0f}%.")


def closest_option(lesson: Lesson) -> float:
    """The option nearest the exact answer (tests hold it equal to ``lesson.answer``)."""
    answer = exact_answer(lesson)
    return min(lesson.options, key=lambda option: abs(option - answer))


def answers_to_query(answers: dict[int, tuple[float, bool]]) -> str:
    """Workshop answers (lesson number -> choice, revealed) as one link value: '1:3.5:revealed,3:4'."""
    return ",".join(f"{index}:{choice:g}" + (":revealed" if revealed else "")
                    for index, (choice, revealed) in sorted(answers.items()))


def parse_answers(text: str) -> tuple[dict[int, tuple[float, bool]], list[str]]:
    """Workshop answers from a link; an entry naming no lesson or no option of it is dropped with a warning."""
    answers: dict[int, tuple[float, bool]] = {}
    warnings: list[str] = []
    tokens = [token for token in text.split(",") if token]
    if len(tokens) > len(LESSONS):
        warnings.append(f"The link has {len(tokens):,} answers; only the first {len(LESSONS)} were read.")
    for token in tokens[:len(LESSONS)]:
        index, _, rest = token.partition(":")
        choice, _, mark = rest.partition(":")
        number = int(index) if index.isascii() and index.isdigit() else 0
        lesson = LESSONS[number - 1] if 1 <= number <= len(LESSONS) else None
        option = next((option for option in lesson.options if f"{option:g}" == choice), None) if lesson else None
        if option is None or mark not in ("", "revealed"):
            warnings.append(f"The link's answer {quoted(token)} is not lesson:option[:revealed] with a lesson's "
                            "own option; it was ignored.")
        else:
            answers[number] = (option, mark == "revealed")
    return answers, capped(warnings)
