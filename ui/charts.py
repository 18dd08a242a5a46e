"""Plotly figures for every page: pure functions of data frames, no streamlit.

Axis titles name the convention (MACs = conv + linear multiply-accumulates,
FLOPs = 2 x MACs); anything not published or computed is labelled an estimate.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where used: a first page view shows numbers before its 0.5 s import
    import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.published.reference import AccuracyEstimate, frontier
from core.units import si

COLORS = {"EfficientNet B0-B7 (paper)": "#1f77b4", "MobileNet V1 (TF-slim grid)": "#2ca02c",
          "MobileNet V2 (TF-slim grid)": "#ff7f0e", "MobileNet V3 Large (paper)": "#9467bd",
          "MobileNet V3 Small (paper)": "#8c564b", "ResNet-18/34/50 (torchvision V1)": "#7f7f7f"}
AXIS_DASH = {"width": "dash", "depth": "dot", "resolution": "dashdot", "compound": "solid"}
HIGHLIGHT = "#d62728"
HEIGHT = 380
# Legends sit inside the plot, in a corner the data leaves empty: never on an axis title, and never
# squeezing the plot on a projector or a phone (tests/test_layout.py checks both in a browser).
LEGEND = dict(x=0.01, xanchor="left", y=0.99, yanchor="top", bgcolor="rgba(255,255,255,0.85)",
              font=dict(size=10), tracegroupgap=0, itemwidth=30)
# Cost grows to the right and accuracy upward: the bottom right is empty (no expensive model is that
# bad), and the current variant's star never lands there (top left, it covered the star on a phone).
LEGEND_BOTTOM_RIGHT = dict(LEGEND, x=0.99, xanchor="right", y=0.01, yanchor="bottom")
# A row between the title and the plot, for bars that reach every corner.
LEGEND_ABOVE = dict(LEGEND, orientation="h", x=0, xanchor="left", y=1.01, yanchor="bottom", bgcolor="rgba(0,0,0,0)")
LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=40, b=10), height=HEIGHT, legend=LEGEND)


class PlotlySpec(go.Figure):
    """A figure given as plain Plotly JSON, handed to ``st.plotly_chart`` without re-validation.

    Streamlit validates every dict figure through ``go.Figure`` on every rerun: about 100 ms for
    the reference chart, most of a slider move. The Explorer's figures are built as dicts
    instead and validated once, by the tests (``tests/test_ui_units.py``). Streamlit reads a
    figure object only through ``to_dict()``, which returns the spec as built.
    """

    def __init__(self, spec: dict):  # deliberately no go.Figure.__init__: nothing to validate here
        self._spec = spec

    def to_dict(self) -> dict:
        return self._spec


def unit_factor(unit: str) -> int:
    return 2 if unit == "FLOPs" else 1


def cost_axis_title(unit: str) -> str:
    """Short enough for the narrow right-hand chart at 1280 px and a phone (the cards spell the convention out)."""
    if unit == "FLOPs":
        return "FLOPs per image (= 2 x MACs)"
    return "MACs per image (conv + linear)"


def _log_axis(title: str) -> dict:
    """A log axis labelled once per decade in SI units (1M, 10M, 1G), like the cards."""
    return dict(type="log", title=dict(text=title), dtick=1, exponentformat="SI", automargin=True)


def _axis(title: str, **extra) -> dict:
    return dict(title=dict(text=title), automargin=True, **extra)


def _layout(title: str, xaxis: dict, yaxis: dict, **extra) -> dict:
    return dict(title=dict(text=title, font=dict(size=15)), xaxis=xaxis, yaxis=yaxis,
                margin=dict(l=10, r=10, t=40, b=10), height=HEIGHT, legend=LEGEND, **extra)


def _columns(frame: pd.DataFrame, *names: str) -> list:
    """Rows of ``frame[names]`` as JSON-ready lists (Plotly's customdata)."""
    return frame[list(names)].to_numpy().tolist()


def curve_traces(points: pd.DataFrame, unit: str) -> list[dict]:
    """Published top-1 against cost, per family: its points, and its best-at-each-cost line."""
    factor = unit_factor(unit)
    traces = []
    for curve, rows in points.groupby("curve", sort=False):
        color = COLORS.get(curve, "#333")
        hover = ("<b>%{customdata[0]}</b><br>" + unit + " %{x:.3s}<br>top-1 %{y:.1f}%<br>"
                 "source: %{customdata[1]}<extra>" + curve + "</extra>")
        best = frontier(rows)
        traces += [
            dict(type="scatter", x=(rows.macs_m * 1e6 * factor).tolist(), y=rows.top1.tolist(), mode="markers",
                 name=curve, legendgroup=curve, showlegend=False, marker=dict(color=color, size=7, opacity=0.6),
                 customdata=_columns(rows, "variant", "source"), hovertemplate=hover),
            dict(type="scatter", x=(best.macs_m * 1e6 * factor).tolist(), y=best.top1.tolist(), mode="lines",
                 name=curve.split(" (")[0], legendgroup=curve, line=dict(color=color, width=2),
                 customdata=_columns(best, "variant", "source"), hovertemplate=hover)]
    return traces


def series_traces(series: pd.DataFrame, unit: str) -> list[dict]:
    """Published single-axis scaling (width only, depth only, resolution only), one dashed line each.

    Beside the compound curve they show the paper's central result: at equal cost, scaling one
    axis saturates below scaling all three.
    """
    factor = unit_factor(unit)
    traces = []
    drawn = series[(series.axis != "width x resolution")  # a grid: its points are the family's curve already
                   & ~series.series.str.contains("B0-B7")]  # the compound curve itself
    shown = set()
    for name, rows in drawn.groupby("series", sort=False):
        rows = rows.sort_values("macs")
        axis = rows.axis.iloc[0]
        traces.append(dict(
            type="scatter", x=(rows.macs * factor).tolist(), y=rows.top1.tolist(), mode="lines+markers",
            name=f"{axis} only" if axis != "compound" else "compound",
            legendgroup=axis, showlegend=axis not in shown, legend="legend2",
            line=dict(color="#444", width=1.5, dash=AXIS_DASH.get(axis, "dash")),
            marker=dict(size=5, color="#444"), customdata=_columns(rows, "variant", "notes"),
            hovertemplate="<b>%{customdata[0]}</b><br>" + unit + " %{x:.3s} (engine)<br>top-1 %{y:.1f}%<br>"
                          "%{customdata[1]}<extra>" + name + "</extra>"))
        shown.add(axis)
    return traces


MODEL_COLOR = "#17becf"


def model_traces(curves: pd.DataFrame, unit: str, title: str) -> list[dict]:
    """The fitted model along each axis alone and along the compound path (``reference.model_curves``).

    Beside the published points they show why compound scaling wins: each axis alone flattens,
    while spending the same cost on all three keeps every axis on the steep start of its curve.
    """
    factor = unit_factor(unit)
    traces = []
    for index, (axis, rows) in enumerate(curves.groupby("axis", sort=False)):
        rows = rows.sort_values("macs")
        name = f"{axis} only" if axis != "compound" else "compound (phi)"
        traces.append(dict(
            type="scatter", x=(rows.macs * factor).tolist(), y=rows.top1.tolist(), mode="lines",
            name="fitted model", legendgroup="model", showlegend=index == 0, legend="legend2", meta="model",
            line=dict(color=MODEL_COLOR, width=2, dash=AXIS_DASH.get(axis, "solid")),
            customdata=_columns(rows, "width", "depth", "resolution", "low", "high"),
            hovertemplate=f"<b>fitted model of {title}: {name}</b><br>width %{{customdata[0]:.2f}}, depth "
                          "%{customdata[1]:.2f}, %{customdata[2]} px<br>" + unit + " %{x:.3s} (engine)<br>"
                          "top-1 ~%{y:.1f}% (%{customdata[3]:.1f} to %{customdata[4]:.1f})<extra>estimate</extra>"))
    return traces


def _star(x: float, y: float, name: str, hover: str, error: tuple[float, float] | None = None) -> dict:
    """The current variant: a star (its label is an annotation, see ``_star_label``), with its band."""
    star = dict(type="scatter", x=[x], y=[y], mode="markers", name=name, cliponaxis=False, showlegend=False,
                marker=dict(symbol="star", size=18, color=HIGHLIGHT, line=dict(color="white", width=1)),
                hovertemplate=hover + "<extra></extra>")
    if error is not None:
        star["error_y"] = dict(type="data", symmetric=False, array=[error[1]], arrayminus=[error[0]],
                               color=HIGHLIGHT, thickness=2, width=6)
    return star


def _star_label(x: float, y: float, text: str) -> dict:
    """The star's label on a white box, offset up and left so it never sits on a curve's line."""
    return dict(x=x, y=y, text=text, showarrow=True, arrowcolor=HIGHLIGHT, ax=-50, ay=-36,
                bgcolor="rgba(255,255,255,0.9)", bordercolor=HIGHLIGHT, font=dict(color=HIGHLIGHT, size=12))


def data_ranges(traces: list[dict]) -> tuple[list[float], list[float]]:
    """The chart's axes, set by the published points alone (log10 cost, top-1), padded a little:
    neither the variant nor the model's curves can stretch them."""
    xs = [value for trace in traces if trace.get("meta") != "model" for value in trace["x"]]
    ys = [value for trace in traces if trace.get("meta") != "model" for value in trace["y"]]
    low, high = math.log10(min(xs)), math.log10(max(xs))
    return [low - 0.15, high + 0.15], [math.floor(min(ys)) - 2, math.ceil(max(ys)) + 2]


def _inside(value: float, bounds: list[float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def reference_figure(traces: list[dict], label: str, macs: int, estimate: AccuracyEstimate | None,
                     unit: str = "MACs") -> PlotlySpec:
    """Published top-1 against cost (``curve_traces`` + ``series_traces`` + ``model_traces``), with the variant.

    The variant is a star at its published top-1 where it is exactly a published network, else at
    the fitted model's estimate with its band as an error bar; without an estimate, a dashed line
    at its cost and why. The axes are the published data's: a variant beyond them is named at
    the edge instead.
    """
    x = macs * unit_factor(unit)
    x_range, y_range = data_ranges(traces)
    data, annotations, shapes = list(traces), [], []
    has_value = estimate is not None and estimate.top1 is not None
    if has_value and _inside(math.log10(x), x_range) and _inside(estimate.top1, y_range):
        if estimate.published:
            data.append(_star(x, estimate.top1, f"{label} (published)",
                              f"<b>{label}</b>: {_wrap(estimate.basis)}<br>{unit} %{{x:.3s}} (engine)<br>"
                              f"top-1 %{{y:.1f}}%, published: {_wrap('; '.join(estimate.sources))}"))
            annotations.append(_star_label(math.log10(x), estimate.top1, f"{estimate.top1:.1f}% (published)"))
        else:
            data.append(_star(x, estimate.top1, f"{label} (estimate)",
                              f"<b>{label}</b><br>{unit} %{{x:.3s}} (engine)<br>top-1 ~%{{y:.1f}}% "
                              f"({estimate.low:.1f} to {estimate.high:.1f}): estimate for a {estimate.direction} "
                              f"variant<br>{_wrap(estimate.basis)}<br>not a published result",
                              (estimate.top1 - estimate.low, estimate.high - estimate.top1)))
            annotations.append(_star_label(math.log10(x), estimate.top1, f"{estimate.text()} (estimate)"))
    elif has_value:  # beyond the published data: said at the edge, the axes stay the data's
        right = math.log10(x) > x_range[1]
        annotations.append(dict(
            x=1 if right else 0, y=0.98, xref="paper", yref="paper", showarrow=False,
            xanchor="right" if right else "left", yanchor="top", bgcolor="rgba(255,255,255,0.9)",
            bordercolor=HIGHLIGHT, font=dict(color=HIGHLIGHT),
            text=f"{'' if right else '<- '}{label}: {si(x)} {unit}, top-1 {estimate.text()}"
                 f"{' ->' if right else ''}<br>beyond the published results drawn here"))
    else:
        reason = "no published data was scaled this way" if estimate is None else estimate.basis
        left = math.log10(x) < sum(x_range) / 2
        if _inside(math.log10(x), x_range):
            shapes.append(dict(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper",
                               line=dict(color=HIGHLIGHT, width=2, dash="dash")))
        # at the top, clear of the bottom-right legend, on the side of the line with room, from the plot's edge:
        # at a phone's width a reason begun at the line itself would run off the chart
        annotations.append(dict(
            x=1 if left else 0, xref="paper", y=0.98, yref="paper", showarrow=False,
            xanchor="right" if left else "left", yanchor="top", bgcolor="rgba(255,255,255,0.85)",
            font=dict(color=HIGHLIGHT), text=f" {si(x)} {unit}: no accuracy estimate<br> ({_wrap(reason, 48)}) "))
    xaxis = dict(_log_axis(cost_axis_title(unit)), range=x_range)
    layout = _layout("Where it sits: published top-1 against cost", xaxis,
                     _axis("ImageNet top-1 (%), published", range=y_range), annotations=annotations, shapes=shapes)
    layout["legend"] = LEGEND_BOTTOM_RIGHT  # the top left holds the cheap accurate variants and the star's label
    if any(trace.get("legend") == "legend2" for trace in data):  # line styles of the single-axis series: one row
        layout["legend2"] = LEGEND_ABOVE
        layout["title"] = dict(layout["title"], y=0.985, yanchor="top")
        layout["margin"] = dict(layout["margin"], t=64)
        layout["height"] = HEIGHT + 20
    return PlotlySpec(dict(data=data, layout=layout))


def _wrap(text: str, width: int = 60) -> str:
    """Break a long hover or annotation line at spaces (Plotly does not wrap)."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) > width:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    return "<br>".join([*lines, line])


def params_traces(costs: pd.DataFrame, unit: str) -> list[dict]:
    """Every published model's params and cost, as the engine counts them."""
    factor = unit_factor(unit)
    return [dict(type="scatter", x=(rows.macs * factor).tolist(), y=rows.params.tolist(), mode="markers", name=curve,
                 showlegend=False,  # the same colours as the accuracy chart's legend beside it
                 marker=dict(color=COLORS.get(curve, "#333"), size=8), customdata=_columns(rows, "variant"),
                 hovertemplate="<b>%{customdata[0]}</b><br>" + unit + " %{x:.3s}<br>params %{y:.3s}"
                               "<extra>computed by the engine</extra>")
            for curve, rows in costs.groupby("curve", sort=False)]


def params_macs_figure(traces: list[dict], label: str, params: int, macs: int, unit: str = "MACs") -> PlotlySpec:
    """Params against cost of the published models (``params_traces``), with the current variant."""
    x = macs * unit_factor(unit)
    data = [*traces, _star(x, params, label, f"<b>{label}</b><br>{unit} %{{x:.3s}}<br>params %{{y:.3s}}")]
    label_at = _star_label(math.log10(x), math.log10(params), "this variant")
    layout = _layout("Parameters against cost (engine counts)", _log_axis(cost_axis_title(unit)),
                     _log_axis("parameters"), annotations=[label_at])
    return PlotlySpec(dict(data=data, layout=layout))


def block_widths(layers: pd.DataFrame) -> pd.DataFrame:
    """Per block: its output width, its widest inner (expanded) width and its relative depth, plus stem and head.

    ``position`` is where the block starts in the network, 0..1, stage by stage: every stage spans the same
    share in any depth, so the base and a deeper variant line up stage on stage (drawn by block index,
    a deeper network's early stages sat under the base's later, wider ones).
    """
    import pandas as pd
    convs = layers[layers.type.isin(["conv", "dwconv"]) & ~layers.name.str.endswith("downsample")]
    block = convs.name.where(~convs.name.str.startswith("stages."), convs.name.str.rsplit(".", n=1).str[0])
    grouped = convs.groupby(block, sort=False)
    stages = pd.Series(grouped.stage.first().to_numpy())
    stage_index = pd.Series(pd.factorize(stages)[0])
    within = stages.groupby(stages, sort=False).cumcount()
    count = stages.map(stages.value_counts())
    position = (stage_index + within / count) / (stage_index.max() + 1)
    return pd.DataFrame({"block": list(grouped.groups), "stage": stages.to_numpy(),
                         "out_channels": grouped.out_channels.last().to_numpy(),
                         "inner_channels": grouped.out_channels.max().to_numpy(),
                         "output_size": grouped.output_size.last().to_numpy(), "position": position.to_numpy()})


def channel_profile_figure(base: pd.DataFrame, scaled: pd.DataFrame, base_label: str,
                           scaled_label: str) -> PlotlySpec:
    """Output width of every block, base against scaled, by relative depth: rounding to 8 and width made visible.

    Depth adds blocks within each stage, not channels: at the same position both networks are in the same stage.
    """
    data = []
    for table, name, color, dash in ((base, base_label, "#7f7f7f", "dot"), (scaled, scaled_label, HIGHLIGHT, None)):
        blocks = block_widths(table)
        custom = _columns(blocks, "block", "stage", "output_size", "inner_channels")
        position = blocks.position.tolist()
        data += [
            dict(type="scatter", x=position, y=blocks.out_channels.tolist(), mode="lines+markers",
                 name=f"{name}: block output", line=dict(shape="hv", color=color, dash=dash), marker=dict(size=5),
                 customdata=custom,
                 hovertemplate="%{customdata[0]} (%{customdata[1]})<br>%{y} channels out, %{customdata[3]} inside, "
                               "at %{customdata[2]}x%{customdata[2]}<extra>" + name + "</extra>"),
            dict(type="scatter", x=position, y=blocks.inner_channels.tolist(), mode="markers",
                 name=f"{name}: widest inner layer", opacity=0.5, hoverinfo="skip",
                 marker=dict(size=5, color=color, symbol="line-ew-open", line=dict(width=2)))]
    layout = _layout("Channel profile, block by block",
                     _axis("relative depth (stage by stage)", range=[0, 1]),
                     _log_axis("channels"))
    # legend (default: top left) is fine: widths grow to the right; at the bottom right the long
    # names would cover the variant's own line on a phone
    return PlotlySpec(dict(data=data, layout=layout))


def stage_share_figure(layers: pd.DataFrame, unit: str = "MACs") -> PlotlySpec:
    """Share of cost, parameters and activation memory per stage: where the cost goes."""
    totals = layers.groupby("stage", sort=False)[["macs", "params", "activation_bytes"]].sum()
    totals["macs"] *= unit_factor(unit)
    shares = totals / totals.sum() * 100
    stages = shares.index.tolist()
    data = [dict(type="bar", x=stages, y=shares[column].tolist(), name=name, marker=dict(color=color),
                 customdata=totals[column].tolist(),
                 hovertemplate="%{x}: %{y:.1f}% of " + name + " (%{customdata:.3s})<extra></extra>")
            for column, name, color in (("macs", unit, HIGHLIGHT), ("params", "parameters", "#1f77b4"),
                                        ("activation_bytes", "activation memory", "#7f7f7f"))]
    layout = _layout("Where the cost goes, by stage", _axis(""), _axis("share of the network's total (%)"),
                     barmode="group")
    layout["legend"] = LEGEND_ABOVE  # tall bars in any stage: no empty corner
    # The title at the very top (not mid-margin), then room for the legend in one or two rows.
    layout["title"] = dict(layout["title"], y=0.985, yanchor="top")
    layout["margin"] = dict(layout["margin"], t=84)
    layout["height"] = HEIGHT + 20  # the rotated stage names below: still over 200 px of bars at 1280 px
    return PlotlySpec(dict(data=data, layout=layout))


RUNTIME_COLORS = {"torch float32": "#7f7f7f", "torch bfloat16": "#8c564b", "torch float16": "#9467bd",
                  "onnxruntime float32": "#1f77b4", "onnxruntime int8": "#2ca02c"}


def latency_figure(results: pd.DataFrame, unit: str = "MACs") -> PlotlySpec:
    """Measured median latency (p10-p90 bars) against cost, one colour per runtime and dtype.

    The measured variant is a star, the reference presets circles; names are written on the
    panel's current runtime (``current``) only. Rows without ``series`` are torch float32's. A
    provisional result (``quality``, see core.measurement.quality) is hollow, and its hover says why.
    """
    factor = unit_factor(unit)
    if "series" not in results:
        results = results.assign(series="torch float32", current=True)
    groups = sorted(results.groupby("series"), key=lambda group: not group[1]["current"].any())
    data = []
    for series, rows in groups:
        current, color = bool(rows["current"].any()), RUNTIME_COLORS.get(series, "#17becf")
        grades = rows["quality"].tolist() if "quality" in rows else ["good"] * len(rows)
        hollow = [grade.startswith("provisional") for grade in grades]
        data.append(dict(
            type="scatter", x=(rows.macs * factor).tolist(), y=rows.median_ms.tolist(),
            mode="markers+text" if current else "markers", text=rows.label.tolist(),
            name=f"{series} (selected)" if current else series,
            textposition=["top center" if index % 2 else "bottom center" for index in range(len(rows))],
            textfont=dict(size=11, color=[HIGHLIGHT if measured else "#555" for measured in rows.measured]),
            cliponaxis=False,
            marker=dict(size=[16 if measured else 9 for measured in rows.measured], color=color,
                        symbol=[("star" if measured else "circle") + ("-open" if open_ else "")
                                for measured, open_ in zip(rows.measured, hollow)],
                        line=dict(width=[1.5 if measured else 0 for measured in rows.measured], color=HIGHLIGHT)),
            error_y=dict(type="data", symmetric=False, array=(rows.p90_ms - rows.median_ms).tolist(),
                         arrayminus=(rows.median_ms - rows.p10_ms).tolist(), color=color, thickness=1),
            customdata=[[grade] for grade in grades],
            hovertemplate="<b>%{text}</b><br>" + series + "<br>" + unit
                          + " %{x:.3s}<br>median %{y:.3s} ms<br>%{customdata[0]}<extra>measured</extra>"))
    # Points fill any corner (a fast big ResNet, a slow small EfficientNet): the legend goes above the plot,
    # and the y axis leaves room for the names written over and under the highest and lowest points.
    spread = results[["p10_ms", "median_ms", "p90_ms"]]
    low, high = math.log10(spread.min().min()), math.log10(spread.max().max())
    layout = _layout("Measured latency against cost (star: this variant)", _log_axis(cost_axis_title(unit)),
                     dict(_log_axis("median latency, ms (bars: p10-p90)"), range=[low - 0.12, high + 0.12]))
    layout["legend"] = LEGEND_ABOVE
    layout["title"] = dict(layout["title"], y=0.985, yanchor="top")
    layout["margin"] = dict(layout["margin"], t=84)
    layout["height"] = HEIGHT + 20
    return PlotlySpec(dict(data=data, layout=layout))


def compound_path_figure(path: pd.DataFrame, published: pd.DataFrame) -> go.Figure:
    """depth = alpha^phi, width = beta^phi, resolution = gamma^phi, with the published B1-B7 points."""
    figure = go.Figure()
    for column, color in (("depth", "#1f77b4"), ("width", "#ff7f0e"), ("resolution_factor", "#2ca02c")):
        name = "resolution / base" if column == "resolution_factor" else column
        figure.add_trace(go.Scatter(x=path.phi, y=path[column], mode="lines", name=f"{name} (rule)",
                                    line=dict(color=color)))
        figure.add_trace(go.Scatter(
            x=published.phi, y=published[column], mode="markers", name=f"{name} (published B0-B7)",
            marker=dict(color=color, symbol="diamond", size=9), customdata=published[["variant"]].to_numpy(),
            hovertemplate="%{customdata[0]}: %{y:.2f}<extra>published, hand-rounded</extra>"))
    figure.update_xaxes(title="compound coefficient phi (B0-B7 at 0..7)")
    figure.update_yaxes(title="multiplier")
    figure.update_layout(title="The compound path", **LAYOUT)
    return figure


def macs_heatmap_figure(widths: list[float], resolutions: list[int], macs: list[list[int]],
                        point: tuple[float, int] | None, unit: str = "MACs") -> go.Figure:
    """Cost over width x resolution, coloured and contoured on a log scale (a line every x1.41), and the point.

    Cost spans three decades here; a linear scale paints the small models, where B0-B3 sit, one colour.
    """
    factor = unit_factor(unit)
    values = [[value * factor for value in row] for row in macs]
    logs = [[math.log10(value) for value in row] for row in values]
    low, high = math.floor(min(map(min, logs))), math.ceil(max(map(max, logs)))
    ticks = [mantissa * 10 ** exponent for exponent in range(low, high + 1) for mantissa in (1, 2, 5)]
    figure = go.Figure(go.Contour(
        x=widths, y=resolutions, z=logs, customdata=values, colorscale="Viridis",
        contours=dict(start=low, end=high, size=math.log10(2) / 2),
        colorbar=dict(title=unit, tickvals=[math.log10(tick) for tick in ticks],
                      ticktext=[si(tick, digits=0) for tick in ticks]),
        hovertemplate="width %{x:.2f}<br>%{y} px<br>%{customdata:.3s} " + unit + "<extra></extra>"))
    if point is not None:
        figure.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="current",
                                    marker=dict(symbol="star", size=16, color=HIGHLIGHT)))
    figure.update_xaxes(title="width multiplier")
    figure.update_yaxes(title="resolution (px)")
    figure.update_layout(title=f"{unit} over width x resolution (iso-{unit} contours)", **LAYOUT)
    return figure


def theory_figure(comparison: pd.DataFrame) -> go.Figure:
    """Predicted cost growth (d * w^2 * r^2) against the engine's exact ratio."""
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=comparison.phi, y=comparison.predicted, mode="lines",
                                name="theory: (alpha * beta^2 * gamma^2)^phi"))
    figure.add_trace(go.Scatter(x=comparison.phi, y=comparison.exact, mode="lines+markers",
                                name="engine: exact MACs / MACs at phi = 0"))
    figure.update_xaxes(title="compound coefficient phi")
    figure.update_yaxes(title="cost relative to phi = 0 (log scale)", type="log", dtick=1, exponentformat="SI")
    figure.update_layout(title="Theory against exact counts", **LAYOUT)
    return figure


# One colour per pinned variant, the same in every panel (at most 12 pins: ui.state.MAX_PINS)
PIN_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
              "#17becf", "#393b79", "#637939"]


def compare_bars_figure(table: pd.DataFrame, metrics: dict[str, str]) -> go.Figure:
    """One bar panel per metric, one bar per pinned variant, numbered as in the table.

    The x axis carries only the number: full names under each bar ran into the next panel. The
    legend below the panels names every number, in its colour. Columns named ``*bytes*`` are drawn
    in MiB, the unit of the cards.
    """
    # room between panels for the next panel's tick labels (1.5G, 100M) on a phone
    figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=list(metrics.values()), horizontal_spacing=0.1)
    for column_index, (column, title) in enumerate(metrics.items(), start=1):
        in_mib = "bytes" in column
        for row, (number, label) in enumerate(zip(table.pin, table.label)):
            value = table[column].iloc[row]
            figure.add_trace(go.Bar(
                x=[str(number)], y=[value / 2 ** 20 if in_mib else value], name=f"{number}: {label}",
                legendgroup=str(number), showlegend=column_index == 1,
                marker_color=PIN_COLORS[row % len(PIN_COLORS)],
                hovertemplate=f"<b>{number}: {label}</b><br>{title}: "
                              + ("%{y:.3~g} MiB" if in_mib else "%{y:.3s}") + "<extra></extra>"),
                row=1, col=column_index)
    for title in figure.layout.annotations:  # subplot titles: two short lines fit a phone's four narrow panels
        title.update(text=_wrap(title.text, 12), font=dict(size=12), yanchor="bottom")
    figure.update_yaxes(exponentformat="SI", automargin=True)  # 1.5G as on the cards, not 1.5B
    for column_index, column in enumerate(metrics, start=1):  # MiB as plain numbers: 0.5, not "500m"
        if "bytes" in column:
            figure.update_yaxes(tickformat=".3~g", row=1, col=column_index)
    # every number written (Plotly skips some on a narrow panel), turned only where they would touch
    figure.update_xaxes(type="category", dtick=1, automargin=True)
    # a phone writes one name per legend row: the panels keep their height whatever the number of pins;
    # the legend starts a little below the axes, clear of the tick numbers (tests/test_layout.py)
    figure.update_layout(template="plotly_white", barmode="overlay", height=HEIGHT + 40 + 20 * len(table),
                         margin=dict(l=10, r=10, t=56, b=10),
                         legend=dict(orientation="h", x=0, xanchor="left", y=-0.12, yanchor="top",
                                     font=dict(size=11), tracegroupgap=0))
    return figure


ROOFLINE_COLORS = {"dwconv": "#d62728", "conv": "#1f77b4", "se_conv": "#9467bd", "linear": "#2ca02c"}


def roofline_figure(layers: pd.DataFrame, device_title: str, peak_flops: float, bandwidth: float,
                    modelled: bool = False) -> PlotlySpec:
    """Every layer with MACs at its arithmetic intensity, on the device's roofline (log-log): a bound.

    With ``modelled`` (this host's calibrated model), each layer also appears where the model puts it,
    below the roof.
    """
    counted = layers[layers.macs > 0]
    low = max(min(counted.intensity.min(), peak_flops / bandwidth) / 3, 1e-2)
    high = max(counted.intensity.max(), peak_flops / bandwidth) * 3
    ridge = peak_flops / bandwidth
    data = [dict(type="scatter", x=[low, ridge, high], y=[low * bandwidth / 1e9, peak_flops / 1e9, peak_flops / 1e9],
                 mode="lines", name="roof: min(peak, intensity x bandwidth)", line=dict(color="#444", width=2),
                 hovertemplate="%{x:.3g} FLOPs/byte: at most %{y:.3s} GFLOP/s<extra>roof</extra>")]
    for kind, rows in counted.groupby("type", sort=False):
        custom = _columns(rows, "name", "bound", "bound_ms")
        data.append(dict(
            type="scatter", x=rows.intensity.tolist(), y=rows.attainable_gflops.tolist(), mode="markers",
            name={"dwconv": "depthwise conv", "se_conv": "squeeze-excitation", "conv": "conv"}.get(kind, kind),
            marker=dict(size=8, color=ROOFLINE_COLORS.get(kind, "#7f7f7f"), opacity=0.8), customdata=custom,
            hovertemplate="%{customdata[0]}<br>%{x:.3g} FLOPs/byte, %{customdata[1]}-bound<br>at best %{y:.3s} "
                          "GFLOP/s, at least %{customdata[2]:.3g} ms<extra>bound</extra>"))
        if modelled:
            achieved = (2 * rows.macs / (rows.time_ms / 1000) / 1e9).tolist()
            data.append(dict(
                type="scatter", x=rows.intensity.tolist(), y=achieved, mode="markers", showlegend=False,
                marker=dict(size=6, color=ROOFLINE_COLORS.get(kind, "#7f7f7f"), symbol="circle-open"),
                customdata=_columns(rows, "name", "time_ms"),
                hovertemplate="%{customdata[0]}: the model predicts %{customdata[1]:.3g} ms, %{y:.3s} GFLOP/s"
                              "<extra>predicted</extra>"))
    layout = _layout(f"Roofline, {device_title}: lower bounds, not measurements",
                     _log_axis("arithmetic intensity, FLOPs per byte moved"),
                     _log_axis("GFLOP/s (at most)"))
    layout["legend"] = LEGEND_BOTTOM_RIGHT
    return PlotlySpec(dict(data=data, layout=layout))


def width_sweep_figure(sweep: pd.DataFrame, width: float) -> PlotlySpec:
    """Predicted latency over width (a staircase: channels round to multiples of 8), measured points where stored."""
    data = [dict(type="scatter", x=sweep.width.tolist(), y=sweep.predicted_ms.tolist(), mode="lines",
                 line=dict(shape="hv", color="#1f77b4"), name="predicted (calibrated model)",
                 hovertemplate="width %{x:.3f}: predicted %{y:.3g} ms<extra></extra>")]
    measured = sweep.dropna(subset=["measured_ms"])
    if len(measured):
        data.append(dict(type="scatter", x=measured.width.tolist(), y=measured.measured_ms.tolist(),
                         mode="markers", name="measured (stored results)", marker=dict(size=9, color=HIGHLIGHT),
                         hovertemplate="width %{x:.3f}: measured %{y:.3g} ms<extra></extra>"))
    layout = _layout("Latency over width on this host", _axis("width multiplier"),
                     _axis("ms per batch", rangemode="tozero"),
                     shapes=[dict(type="line", x0=width, x1=width, yref="paper", y0=0, y1=1,
                                  line=dict(color="#999", dash="dot"))])
    layout["legend"] = LEGEND_BOTTOM_RIGHT
    return PlotlySpec(dict(data=data, layout=layout))
