"""Explorer: scale a backbone and watch its cost against the published curves."""
import streamlit as st

from core.network.families import resolve
from ui import charts
from ui.cards import metric_cards, model_caption, profile_or_error, unchanged_step_hint, variant_accuracy
from ui.downloads import download_csv
from ui.engine import base_profile, curve_traces, model_traces, params_traces, series_traces
from ui.labels import display_name, variant_label
from ui.latency_panel import latency_panel
from ui.layer_table import layer_column_config, layer_table
from ui.network_diagram import network_diagram
from ui.pins import pin_variant, pins
from ui.prediction import prediction_row, roofline_panel
from ui.ptflops_panel import ptflops_panel
from ui.recipe_card import recipe_card
from ui.routing import require_router
from ui.safe_text import chart_text, quoted
from ui.sidebar import explorer_sidebar, scaling_controls, share_link, url_warnings
from ui.spec_editor import spec_editor, spec_error
from ui.spec_link import CUSTOM, spec_arch
from ui.stage_editor import stage_editor
from ui.state import VIEWS, Pin
from ui.task_panel import task_panel


def network_editors(row, state) -> None:
    """The network's own editors as two popovers at the end of ``row`` (their content floats over the page):
    Custom's spec, for a custom network, and per stage. What the spec editor refused is one line below."""
    if state.backbone == CUSTOM:
        spec_editor(row.pop(0), state)
    stage_editor(row.pop(0), state)
    if state.backbone == CUSTOM:
        spec_error()


@st.fragment
def explorer_results(sliders, links, view: str) -> None:
    """Everything a slider move changes: the sliders themselves, the cards, the pictures, the link.

    A fragment, so a move reruns this alone (the controls that pick the network or the view, the title and
    the app's frame stay as they are): a class of 60 moves sliders on one process (bench/bench_class.py).
    """
    state = scaling_controls(sliders)
    width, depth, resolution = state.config()
    base_arch, start = resolve(state.network)
    base_title = "your spec" if base_arch.custom else base_arch.title  # a spec's title is a stranger's text
    if state.mode == "compound":
        # a custom network's title from its own spec (two specs that differ only in title share one engine name)
        start_title = quoted(spec_arch(state.spec).title) if state.backbone == CUSTOM else start.title
        st.caption(f"Compound scaling from {start_title} (width {start.width:g}, depth {start.depth:g}, "
                   f"{start.resolution} px), phi = {state.phi:g}: width {width:.3f}, depth {depth:.3f}, "
                   f"{resolution} px")

    cost = profile_or_error(state.network, width, depth, resolution, state.batch, state.dtype, state.task,
                            state.head, state.stage_width, state.stage_depth)
    links.button(f"Pin this variant ({len(pins())} pinned)", icon=":material/push_pin:", disabled=cost is None,
                 width="stretch", on_click=pin_variant, key="explorer_pin",
                 args=(cost, None if cost is None else Pin.of(state.network, cost.width, cost.depth,
                                                             cost.resolution, state)))
    share_link(state.to_query(), "explorer", links)
    if cost is None:  # what to change may be the network itself
        network_editors(list(st.columns([1, 1, 3])), state)
        return
    if cost.task != "classification":
        task_panel(cost, state.unit, variant_label(state.backbone, width, depth, resolution))
        st.caption("The ImageNet views and queued latency are for classifiers; `python -m core latency --task "
                   f"{cost.task} --head {cost.head} {cost.backbone}` times this network.")
        return
    base = base_profile(base_arch.name, state.batch, state.dtype)
    latency_card = metric_cards(cost, base, state.unit)
    prediction_row(cost, state, latency_card)
    unchanged_step_hint(cost)
    # the recipe's line, and at its end the network's editors (a popover each: nothing moves when one opens)
    row = list(st.columns([3.0, 1.1, 0.9] if state.backbone == CUSTOM else [4.2, 0.8], vertical_alignment="center"))
    with row.pop(0):
        recipe_card(cost)
    network_editors(row, state)
    label = variant_label(display_name(cost.backbone), width, depth, resolution)
    base_label = chart_text(f"{base_title} (base)")
    # The first screen: the network drawn beside the view's first chart (at 1280x720 both above the fold).
    drawing, first = st.columns([2, 3])
    network_diagram(drawing, cost, base, label, base_label)
    if view == "position":  # a per-stage network beside its built-in's published series and fitted model
        traces = [*curve_traces(state.unit), *series_traces(base_arch.name, state.unit),
                  *model_traces(base_arch.name, state.unit)]
        first.plotly_chart(charts.reference_figure(traces, label, cost.macs, variant_accuracy(cost), state.unit),
                           key="reference_chart")
        left, right = st.columns([2, 3])
        left.plotly_chart(charts.params_macs_figure(params_traces(state.unit), label, cost.params, cost.macs,
                                                    state.unit), key="params_chart")
        caption = model_caption(base_arch.name)
        right.caption("Above: published ImageNet top-1 (hover a point for its source); dashed and dotted grey lines "
                      "are published results of scaling one axis only. The star is this variant at its published "
                      "top-1 where it is exactly a published network, else at the fitted model's estimate with its "
                      "error band (hover it for the basis). Left: params against cost, counted by this engine; "
                      "colours as above." + (f"\n\n{caption}" if caption else ""))
    elif view == "inside":
        first.plotly_chart(charts.channel_profile_figure(base.layers, cost.layers, base_label, label),
                           key="channel_chart")
        st.plotly_chart(charts.stage_share_figure(cost.layers, state.unit), key="stage_chart")
        table = layer_table(cost, state.unit)
        st.dataframe(table, hide_index=True, height=420, column_config=layer_column_config(state.unit))
        download_csv(table, f"{label.replace(' ', '_')}_layers.csv", "Download the per-layer table (CSV)",
                     key="layers_csv")
        with st.expander("Cross-check with ptflops: why its count is higher"):
            ptflops_panel(cost)
    else:  # beside the drawing, where the cost goes: what the latency below is spent on
        first.plotly_chart(charts.stage_share_figure(cost.layers, state.unit), key="stage_chart")
        latency_panel(cost, state)
        roofline_panel(cost, state)


require_router()
sliders, links = explorer_sidebar()
title, views = st.columns([1, 1], vertical_alignment="bottom")
title.title("Channel Scaling Lab")
# outside the results fragment: a slider move does not redraw it, and picking a view reruns the page
view = views.segmented_control("View", VIEWS, key="explorer_view", label_visibility="collapsed", required=True,
                               persist_state="session",
                               format_func={"position": "Where it sits", "inside": "Inside the network",
                                            "latency": "Latency"}.get)
url_warnings()
explorer_results(sliders, links, view)
