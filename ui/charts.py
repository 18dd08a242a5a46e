"""Plotly figures for every page: pure functions of data frames, no streamlit.

Axis titles name the convention (MACs = conv + linear multiply-accumulates,
FLOPs = 2 x MACs); anything not published or computed is labelled an estimate.
"""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.reference import AccuracyEstimate, PublishedAccuracy, frontier
from core.units import si

COLORS = {"EfficientNet B0-B7 (paper)": "#1f77b4", "MobileNet V1 (TF-slim grid)": "#2ca02c",
          "MobileNet V2 (TF-slim grid)": "#ff7f0e", "MobileNet V3 Large (paper)": "#9467bd",
          "MobileNet V3 Small (paper)": "#8c564b", "ResNet-18/34/50 (torchvision V1)": "#7f7f7f"}
HIGHLIGHT = "#d62728"
LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=40, b=10), height=430,
              legend=dict(orientation="h", yanchor="top", y=-0.18, x=0))


def unit_factor(unit: str) -> int:
    return 2 if unit == "FLOPs" else 1


def cost_axis_title(unit: str) -> str:
    if unit == "FLOPs":
        return "FLOPs per image (= 2 x MACs; conv + linear; log scale)"
    return "MACs per image (multiply-accumulates of conv + linear layers; log scale)"


def reference_figure(points: pd.DataFrame, label: str, macs: int, estimate: AccuracyEstimate | None,
                     unit: str = "MACs", published: PublishedAccuracy | None = None) -> go.Figure:
    """Published top-1 against cost per family, with the current variant highlighted.

    The variant's accuracy is the published one where it is exactly a published model,
    else an estimate on its family's curve, else absent (a dashed line at its cost).
    """
    factor = unit_factor(unit)
    figure = go.Figure()
    for curve, rows in points.groupby("curve", sort=False):
        color = COLORS.get(curve, "#333")
        hover = ("<b>%{customdata[0]}</b><br>" + unit + " %{x:.3s}<br>top-1 %{y:.1f}%<br>"
                 "source: %{customdata[1]}<extra>" + curve + "</extra>")
        figure.add_trace(go.Scatter(
            x=rows.macs_m * 1e6 * factor, y=rows.top1, mode="markers", name=curve,
            legendgroup=curve, marker=dict(color=color, size=7, opacity=0.6),
            customdata=rows[["variant", "source"]].to_numpy(), hovertemplate=hover, showlegend=False))
        best = frontier(rows)
        figure.add_trace(go.Scatter(
            x=best.macs_m * 1e6 * factor, y=best.top1, mode="lines", name=curve, legendgroup=curve,
            line=dict(color=color, width=2), customdata=best[["variant", "source"]].to_numpy(),
            hovertemplate=hover))
    x = macs * factor
    if published is not None:
        figure.add_trace(_star(x, published.top1, f"{label} (published)", f"{published.top1:.1f}% (published)",
                               f"<b>{label}</b> = {published.variant}<br>{unit} %{{x:.3s}} (engine)<br>"
                               f"top-1 %{{y:.1f}}%, published: {published.source}"))
    elif estimate is not None and estimate.top1 is not None:
        figure.add_trace(_star(x, estimate.top1, f"{label} (estimate)", f"~{estimate.top1:.1f}% (estimate)",
                               f"<b>{label}</b><br>{unit} %{{x:.3s}} (engine)<br>top-1 ~%{{y:.1f}}%: estimate "
                               f"interpolated on {estimate.curve}<br>between {estimate.low_variant} and "
                               f"{estimate.high_variant}; not a published result"))
    else:
        figure.add_vline(x=x, line=dict(color=HIGHLIGHT, width=2, dash="dash"))
        figure.add_annotation(x=math.log10(x), y=0.02, yref="paper", xref="x", showarrow=False,
                              xanchor="left", yanchor="bottom", bgcolor="rgba(255,255,255,0.8)",
                              text=f" {si(x)} {unit}: no published {label.split()[0]} curve here,<br>"
                                   " so no accuracy estimate", font=dict(color=HIGHLIGHT))
    figure.update_xaxes(type="log", title=cost_axis_title(unit))
    figure.update_yaxes(title="ImageNet top-1 (%), published")
    figure.update_layout(title="Where it sits: published accuracy against cost", **LAYOUT)
    return figure


def _star(x: float, y: float, name: str, text: str, hover: str) -> go.Scatter:
    """The current variant: a labelled star."""
    return go.Scatter(x=[x], y=[y], mode="markers+text", name=name, text=[text], textposition="bottom center",
                      cliponaxis=False, textfont=dict(color=HIGHLIGHT),
                      marker=dict(symbol="star", size=18, color=HIGHLIGHT, line=dict(color="white", width=1)),
                      hovertemplate=hover + "<extra></extra>")


def params_macs_figure(reference: pd.DataFrame, label: str, params: int, macs: int,
                       unit: str = "MACs") -> go.Figure:
    """Engine-computed params and cost of the published models, with the current variant."""
    factor = unit_factor(unit)
    figure = go.Figure()
    for curve, rows in reference.groupby("curve", sort=False):
        figure.add_trace(go.Scatter(
            x=rows.macs * factor, y=rows.params, mode="markers", name=curve,
            marker=dict(color=COLORS.get(curve, "#333"), size=8),
            customdata=rows[["variant"]].to_numpy(),
            hovertemplate="<b>%{customdata[0]}</b><br>" + unit + " %{x:.3s}<br>params %{y:.3s}"
                          "<extra>computed by the engine</extra>"))
    figure.add_trace(_star(macs * factor, params, label, "this variant",
                           f"<b>{label}</b><br>{unit} %{{x:.3s}}<br>params %{{y:.3s}}"))
    figure.update_xaxes(type="log", title=cost_axis_title(unit))
    figure.update_yaxes(type="log", title="parameters (log scale)")
    figure.update_layout(title="Parameters against cost (all points computed by the engine)", **LAYOUT)
    return figure


def block_widths(layers: pd.DataFrame) -> pd.DataFrame:
    """Per block: its output width and its widest inner (expanded) width, plus stem and head."""
    convs = layers[layers.type.isin(["conv", "dwconv"]) & ~layers.name.str.endswith("downsample")]
    block = convs.name.where(~convs.name.str.startswith("stages."), convs.name.str.rsplit(".", n=1).str[0])
    grouped = convs.groupby(block, sort=False)
    return pd.DataFrame({"block": list(grouped.groups), "stage": grouped.stage.first().to_numpy(),
                         "out_channels": grouped.out_channels.last().to_numpy(),
                         "inner_channels": grouped.out_channels.max().to_numpy(),
                         "output_size": grouped.output_size.last().to_numpy()})


def channel_profile_figure(base: pd.DataFrame, scaled: pd.DataFrame, base_label: str,
                           scaled_label: str) -> go.Figure:
    """Output width of every block, base against scaled: rounding to 8 and added depth made visible."""
    figure = go.Figure()
    for table, name, color, dash in ((base, base_label, "#7f7f7f", "dot"), (scaled, scaled_label, HIGHLIGHT, None)):
        blocks = block_widths(table)
        custom = blocks[["block", "stage", "output_size", "inner_channels"]].to_numpy()
        figure.add_trace(go.Scatter(
            x=blocks.index, y=blocks.out_channels, mode="lines+markers", name=f"{name}: block output",
            line=dict(shape="hv", color=color, dash=dash), marker=dict(size=5), customdata=custom,
            hovertemplate="%{customdata[0]} (%{customdata[1]})<br>%{y} channels out, %{customdata[3]} inside, "
                          "at %{customdata[2]}x%{customdata[2]}<extra>" + name + "</extra>"))
        figure.add_trace(go.Scatter(
            x=blocks.index, y=blocks.inner_channels, mode="markers", name=f"{name}: widest inner layer",
            marker=dict(size=5, color=color, symbol="line-ew-open", line=dict(width=2)), opacity=0.5,
            customdata=custom, hoverinfo="skip"))
    figure.update_xaxes(title="block, input to output (stem first, head last; more blocks = more depth)")
    figure.update_yaxes(title="channels (log scale)", type="log")
    figure.update_layout(title="Channel profile", **LAYOUT)
    return figure


def stage_share_figure(layers: pd.DataFrame, unit: str = "MACs") -> go.Figure:
    """Share of cost, parameters and activation memory per stage: where the cost goes."""
    totals = layers.groupby("stage", sort=False)[["macs", "params", "activation_bytes"]].sum()
    totals["macs"] *= unit_factor(unit)
    shares = totals / totals.sum() * 100
    figure = go.Figure()
    for column, name, color in (("macs", unit, HIGHLIGHT), ("params", "parameters", "#1f77b4"),
                                ("activation_bytes", "activation memory", "#7f7f7f")):
        figure.add_trace(go.Bar(x=shares.index, y=shares[column], name=name, marker_color=color,
                                customdata=totals[column], hovertemplate="%{x}: %{y:.1f}% of " + name +
                                " (%{customdata:.3s})<extra></extra>"))
    figure.update_yaxes(title="share of the network's total (%)")
    figure.update_layout(title="Where the cost goes, by stage", barmode="group", **LAYOUT)
    return figure


def latency_figure(results: pd.DataFrame, unit: str = "MACs") -> go.Figure:
    """Measured median latency (p10-p90 bars) against cost: MACs and latency disagree."""
    factor = unit_factor(unit)
    figure = go.Figure(go.Scatter(
        x=results.macs * factor, y=results.median_ms, mode="markers+text", text=results.label,
        textposition="top center", marker=dict(size=10, color=HIGHLIGHT),
        error_y=dict(type="data", symmetric=False, array=results.p90_ms - results.median_ms,
                     arrayminus=results.median_ms - results.p10_ms),
        hovertemplate="<b>%{text}</b><br>" + unit + " %{x:.3s}<br>median %{y:.2f} ms<extra>measured</extra>"))
    figure.update_xaxes(type="log", title=cost_axis_title(unit))
    figure.update_yaxes(type="log", title="measured latency, median ms (bars: p10-p90)")
    figure.update_layout(title="Latency against cost on this machine", **LAYOUT)
    return figure


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
    figure.update_xaxes(title="compound coefficient phi (published models at phi = 0..7)")
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
        colorbar=dict(title=unit, tickvals=[math.log10(tick) for tick in ticks], ticktext=[si(tick) for tick in ticks]),
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
    figure.update_yaxes(title="cost relative to phi = 0 (log scale)", type="log")
    figure.update_layout(title="Theory against exact counts", **LAYOUT)
    return figure


def compare_bars_figure(table: pd.DataFrame, metrics: dict[str, str]) -> go.Figure:
    """One bar panel per metric, one bar per pinned variant."""
    figure = make_subplots(rows=1, cols=len(metrics), subplot_titles=list(metrics.values()))
    for column_index, column in enumerate(metrics, start=1):
        figure.add_trace(go.Bar(x=table.label, y=table[column], name=metrics[column], showlegend=False,
                                marker_color=HIGHLIGHT if column_index == 1 else "#1f77b4",
                                hovertemplate="%{x}<br>%{y:.4s}<extra></extra>"),
                         row=1, col=column_index)
    figure.update_layout(template="plotly_white", height=380, margin=dict(l=10, r=10, t=40, b=10))
    return figure
