"""The Explorer for a dense task: cost by part, the feature maps the heads read, published results."""
from __future__ import annotations

import streamlit as st

from core.network import tasks
from core.network.counting import Profile
from core.units import si, size_bytes
from ui import charts
from ui.charts import PlotlySpec
from ui.engine import cached_profile
from ui.network_diagram import PART_COLORS, network_diagram

# The head's fixed width, as the caption names it (only the chosen head's).
HEAD_WIDTHS = {"fcn": "FCN's inner width is a quarter of its input",
               "deeplabv3": f"ASPP keeps {tasks.ASPP_CHANNELS} channels",
               "lraspp": f"LR-ASPP keeps {tasks.LRASPP_CHANNELS} channels",
               "fpn": f"FPN keeps {tasks.FPN_CHANNELS} channels"}


def parts_figure(cost: Profile, unit: str) -> PlotlySpec:
    """Share of params, cost and activation memory taken by backbone, neck and head (engine counts)."""
    parts = cost.parts()
    totals = {"params": cost.params, "macs": cost.macs, "activation_bytes": cost.activation_bytes}
    labels = {"params": "parameters", "macs": unit, "activation_bytes": "activation memory"}
    data = [dict(type="bar", orientation="h", name=part, y=[labels[key] for key in totals],
                 x=[100 * values[key] / totals[key] if totals[key] else 0 for key in totals],
                 marker=dict(color=PART_COLORS.get(part, "#7f7f7f")),
                 hovertemplate=part + ": %{x:.1f}% of %{y}<extra></extra>")
            for part, values in parts.items()]
    layout = charts._layout("Where the cost goes: backbone, neck, head", charts._axis("share of the total (%)"),
                            charts._axis(""), barmode="stack")
    layout["legend"] = charts.LEGEND_ABOVE
    layout["height"] = charts.HEIGHT + 20  # beside the network diagram, as tall: over 250 px of bars
    layout["margin"] = dict(layout["margin"], t=70)
    return PlotlySpec(dict(data=data, layout=layout))


def pyramid_figure(cost: Profile) -> PlotlySpec:
    """The feature maps the neck or head reads, one centred bar each, as wide as the map: a pyramid."""
    maps = sorted(cost.feature_maps, key=lambda feature: (-feature.height * feature.width, feature.name))
    names = [f"{feature.name} (/{feature.stride})" for feature in maps]
    widest = max(feature.width for feature in maps)
    # a label inside a narrow bar shrinks to nothing (stride 32, 64): those go beside their bar, in the margin
    inside = [feature.width >= 0.45 * widest for feature in maps]
    data = [dict(type="bar", orientation="h", y=names, x=[feature.width for feature in maps],
                 base=[-feature.width / 2 for feature in maps],
                 marker=dict(color=[PART_COLORS.get(feature.part, "#7f7f7f") for feature in maps]),
                 customdata=[[feature.channels, feature.height, feature.width, feature.stride, feature.read_by]
                             for feature in maps],
                 hovertemplate="%{y}: %{customdata[0]} channels, %{customdata[1]}x%{customdata[2]} px, "
                               "stride %{customdata[3]}<br>read by %{customdata[4]}<extra></extra>",
                 text=[f"{feature.channels} ch, {feature.height}x{feature.width}" for feature in maps],
                 textposition=["inside" if fits else "outside" for fits in inside], insidetextanchor="middle",
                 textfont=dict(size=11), constraintext="none", cliponaxis=False, showlegend=False)]
    layout = charts._layout("Feature maps the head reads (bar = map width)",
                            charts._axis("map width (px)", zeroline=False, showticklabels=False,
                                         range=[-widest / 2, widest / 2]),
                            charts._axis("", autorange="reversed"))
    layout["height"] = 120 + 40 * len(maps)
    return PlotlySpec(dict(data=data, layout=layout))


def published(cost: Profile) -> list[dict]:
    """torchvision's published results for exactly this network and input, else none."""
    return tasks.published_results(cost.backbone, cost.width, cost.depth, cost.resolution, cost.task, cost.head,
                                   cost.num_classes)


def task_panel(cost: Profile, unit: str, label: str) -> None:
    """Metrics, the network drawn beside its cost by part, the pyramid of feature maps, and published results."""
    factor = charts.unit_factor(unit)
    cards = st.columns(4)
    cards[0].metric("Parameters", si(cost.params), help=f"{cost.params:,} exactly; includes batch norm and biases")
    cards[1].metric(unit, si(cost.macs * factor), help=f"{cost.macs * factor:,} per image, backbone + "
                    f"{'neck' if cost.task == 'detection' else 'head'}")
    cards[2].metric("Activation memory", size_bytes(cost.activation_bytes))
    results = published(cost)
    if results:
        row = results[0]
        cards[3].metric(f"{row['metric']} (published)", f"{row['value']:g}",
                        help=f"{row['model']}, {row['dataset']}: {row['source']}")
    else:
        cards[3].metric("Published result", "n/a", help="torchvision publishes results only for its own models at "
                        "width 1 and depth 1, at their evaluation size (segmentation 520x520; detection: short "
                        "side 800 px)")
    what = ("torchvision's " + tasks.TORCHVISION_MODELS[cost.task, cost.head, cost.base]
            if (cost.task, cost.head, cost.base) in tasks.TORCHVISION_MODELS else
            "torchvision's construction on a backbone it does not pair it with")
    leaves = ("The region-proposal and box heads are not counted (they depend on the proposals)."
              if cost.task == "detection" else "Auxiliary classifier off.")
    st.caption(f"{cost.task.capitalize()} with {cost.head}: {what}. Width and depth scale the backbone; "
               f"{HEAD_WIDTHS[cost.head]} at any width. {leaves}")
    base = cached_profile(cost.base, 1.0, 1.0, cost.resolution, cost.batch, cost.dtype, cost.task, cost.head)
    drawing, first = st.columns([2, 3])
    network_diagram(drawing, cost, base, label, f"{cost.base} w1 d1 (base)")
    first.plotly_chart(parts_figure(cost, unit), key="task_parts_chart")
    left, right = st.columns([2, 3])
    left.plotly_chart(pyramid_figure(cost), key="task_pyramid_chart")
    for row in results:
        right.caption(f"Published: {row['model']} {row['metric']} {row['value']:g} on {row['dataset']} "
                      f"({row['num_params']:,} params, {row['gflops']:g} GFLOPS at {row['eval_size']}; includes "
                      f"{row['includes']}). Source: `{row['source']}`")  # a code span: no anchor off the app's origin
