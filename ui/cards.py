"""The Explorer's metric cards: engine numbers against the unscaled backbone, and top-1 with its basis."""
from __future__ import annotations

import streamlit as st

import core
from core.network.counting import Profile
from core.published import reference
from core.units import ratio, si, size_bytes
from ui import charts
from ui.engine import cached_profile
from ui.labels import CONVENTION
from ui.safe_text import quoted


def _change(value: float, base: float) -> dict:
    """Metric delta arguments: 'x1.23 vs base' with an arrow that points the way it went; none at the base."""
    if not base or value == base:
        return {}
    return dict(delta=f"{ratio(value, base)} vs base", delta_color="off",
                delta_arrow="up" if value > base else "down")


def variant_accuracy(cost: Profile) -> reference.AccuracyEstimate:
    """Top-1 of this variant: published where it is exactly a published network, else the fitted estimate;
    none for a custom or per-stage network, with why (the published figures and the model know neither)."""
    network = cost.architecture if cost.architecture.custom else cost.backbone
    return reference.estimate_top1(network, cost.width, cost.depth, cost.resolution, task=cost.task)


def accuracy_help(estimate: reference.AccuracyEstimate) -> str:
    """What the top-1 card says on hover: where the number comes from and what it rests on."""
    if estimate.published:
        return "Published for this exact network: " + "; ".join(estimate.sources)
    if estimate.top1 is None:
        return f"No estimate: {estimate.basis}"
    return (f"Estimate for a {estimate.direction} variant, {estimate.low:.1f} to {estimate.high:.1f}%: "
            f"{estimate.basis}. Rests on {'; '.join(estimate.sources)}. Not a published result: this "
            "network was never trained.")


def model_caption(backbone: str) -> str | None:
    """Why compound scaling wins, from the family's fitted model: each axis alone levels off lower."""
    family = reference.family_for(backbone)
    if family is None:
        return None
    model = reference.fitted_models()[family.name]
    limits = ", ".join(f"{axis} alone near {model.axis_limit(axis):.0f}%" for axis in ("width", "depth", "resolution"))
    return (f"Fitted model of {family.title} (teal lines, from its base; dashes as the published series): {limits}; "
            f"all three together head for {model.ceiling:.0f}%. Each axis climbs steeply at first, then "
            "flattens: at equal cost, compound scaling keeps every axis on the steep start of its own curve. "
            f"Leave-one-out error ±{model.band:.1f} pp over {len(model.loo_errors)} held-out published results.")


def metric_cards(cost: Profile, base: Profile, unit: str):
    """Params, cost, memory, weights and the accuracy estimate, each against the unscaled backbone.

    Returns the row's sixth column, for the predicted latency: one row of cards, so a projector's first
    screen still has room for the network diagram and the first chart.
    """
    factor = charts.unit_factor(unit)
    base_arch = base.architecture
    title = "the spec you gave" if base_arch.custom else base_arch.title  # a spec's title is a stranger's text
    against = (f"Deltas against {title} at width 1, depth 1, {base_arch.default_resolution} px"
               + (", every stage at 1." if cost.stage_width or cost.stage_depth else "."))
    cards = st.columns([1, 1, 1, 1, 1, 1.5])  # 'not calibrated' fits the last
    cards[0].metric("Parameters", si(cost.params), **_change(cost.params, base.params),
                    help=f"{cost.params:,} exactly; includes batch norm and biases. {against}")
    cards[1].metric(unit, si(cost.macs * factor), **_change(cost.macs, base.macs),
                    help=f"{cost.macs * factor:,} per image. {CONVENTION} {against}")
    cards[2].metric("Activation memory", size_bytes(cost.activation_bytes),
                    **_change(cost.activation_bytes, base.activation_bytes),
                    help=f"Every tensor a layer-by-layer engine writes, {cost.dtype}, batch {cost.batch}: each conv, "
                         "linear and pooling output, each squeeze-excitation rescaled tensor and each residual sum "
                         "(batch norm and activations fused or in place). Peak of one layer's input + output "
                         f"(estimate): {size_bytes(cost.peak_activation_bytes)}. {against}")
    weights = cost.weight_bytes
    cards[3].metric("Weights (fp32)", size_bytes(weights["fp32"]), **_change(cost.params, base.params),
                    help=f"4 bytes per parameter; fp16 {size_bytes(weights['fp16'])}, int8 "
                         f"{size_bytes(weights['int8'])}. {against}")
    estimate = variant_accuracy(cost)  # after the engine's cards: the published tables load slowest
    # the band goes under the value, like the other cards' deltas: "~80.2% ±0.3" does not fit a sixth of 1280 px
    band = {} if estimate.published or estimate.top1 is None else dict(
        delta=f"±{estimate.band:.1f} pp", delta_color="off", delta_arrow="off")
    if cost.architecture.custom:  # the reason instead of a value: never trained, not modelled
        cards[4].metric("Top-1 (estimate)", "n/a", help=f"No accuracy estimate: {estimate.basis}.",
                        delta="never trained", delta_color="off", delta_arrow="off")
    else:
        cards[4].metric("Top-1 (published)" if estimate.published else "Top-1 (estimate)",
                        estimate.text().split(" ±")[0], help=accuracy_help(estimate), **band)
    if estimate.extrapolated:
        cards[4].caption("extrapolated: beyond the published results")
    return cards[5]


def unchanged_step_hint(cost: Profile) -> None:
    """Say why a slider step changed nothing: whole repeats and widths rounded to 8 absorb small steps."""
    previous = st.session_state.get("explorer_previous_config")
    config = (cost.backbone, cost.width, cost.depth, cost.resolution)
    st.session_state["explorer_previous_config"] = (*config, cost.params, cost.macs)
    if previous is None or previous[:4] == config or previous[0] != cost.backbone:
        return
    if (previous[4], previous[5]) == (cost.params, cost.macs):
        moved = [f"{name} {before:g} -> {after:g}" for name, before, after in
                 zip(("width", "depth", "resolution"), previous[1:4], config[1:]) if before != after]
        st.caption(f"Same network as before ({', '.join(moved)}): each stage repeats ceil(repeats x depth) "
                   "blocks and widths round to multiples of 8, so a small step can change nothing.",
                   help="Keep moving the slider: the count changes at the next whole block or multiple of 8.")


def profile_or_error(backbone: str, width: float, depth: float, resolution: int, batch: int = 1,
                     dtype: str = "float32", task: str = "classification", head: str | None = None,
                     stage_width: tuple[float, ...] | None = None,
                     stage_depth: tuple[float, ...] | None = None) -> Profile | None:
    """The profile, or None after showing what to change (the rest of the page still renders).

    A custom network's message may hold its spec's title (a stranger's text): it is shown quoted, inert.
    """
    try:
        return cached_profile(backbone, width, depth, resolution, batch, dtype, task, head, stage_width, stage_depth)
    except core.ScalingError as error:
        custom = backbone.startswith("custom-")
        st.error(f"This configuration can't be profiled: {quoted(error, 240) if custom else error}.",
                 icon=":material/warning:")
        return None
