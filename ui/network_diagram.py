"""The network, drawn: the scaled network under its unscaled base, so width, depth and resolution are seen.

One bar per block in forward order (count by depth), its height by output channels (width), after a
square for the input image (side by resolution); backbone stages in shades of blue from the stem to the
last conv, the neck green and the head red as in the task panel's parts chart; a head's parallel branches
(ASPP, LR-ASPP, the two classifiers) share one slot. Read from the profile's per-layer rows, which the
cards already hold: no new walk of the network, no pandas, no figure validation on a slider move.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from core.network.counting import Profile
from core.network.scaling import RESOLUTION_RANGE
from ui.charts import HEIGHT, HIGHLIGHT, PlotlySpec
from ui.engine import per_profile

PART_COLORS = {"backbone": "#1f77b4", "neck": "#2ca02c", "head": HIGHLIGHT}
# Light to dark blue, stem to last conv (colour steps, not the stage's meaning: any stage count fits).
STAGE_RAMP = ((198, 219, 239), (8, 48, 107))
HEAD_TITLES = {"classifier": "classifier", "fcn": "FCN head", "deeplabv3": "ASPP head (DeepLabV3)",
               "lraspp": "LR-ASPP head", "fpn": "FPN neck"}
# Layers a head runs side by side: drawn in one slot, as parallel branches.
PARALLEL = {"head.aspp_1x1": "ASPP", "head.aspp_rate12": "ASPP", "head.aspp_rate24": "ASPP",
            "head.aspp_rate36": "ASPP", "head.aspp_pool": "ASPP", "head.cbr": "LR-ASPP", "head.scale": "LR-ASPP",
            "head.low_classifier": "classifiers", "head.high_classifier": "classifiers"}
DRAWN_TYPES = ("conv", "dwconv", "linear")
CHANNEL_SCALE = (4, 8192)  # fixed, so a bar grows when the width does (and the widest preset at width 3 fits)
LANE, GAP = 1.0, 0.3  # each network's lane height and the gap between lanes, in y units
PLOT_WIDTH_PX = 270  # about the diagram's plot width at 1280 px (a phone: 285): room for the input square
LANE_PX = 130  # about one lane's height in pixels (the figure's height is fixed below)
MAX_SQUARE_PX = 110  # the input square at the largest resolution
LANE_TICKS = (16, 64, 256, 1024, 4096)


@dataclass(frozen=True)
class Shape:
    """One slot of the drawing: a block, or a group of parallel head branches."""

    name: str
    stage: str
    part: str
    channels: tuple[int, ...]  # one per branch drawn in this slot
    inner: int  # widest layer inside (expanded width), channels
    size: int  # output height in pixels


def _slot(name: str) -> str:
    """The slot a layer belongs to: its block (stages.i.j), its parallel group, or itself."""
    bare = name.removeprefix("backbone.")
    if bare.startswith("stages."):
        return ".".join(bare.split(".")[:3])
    if bare.startswith("neck."):  # an FPN level: its lateral and output convs
        return "neck.P" + bare.rsplit("_", 1)[-1]
    return PARALLEL.get(bare, "stem" if bare.startswith("stem") else bare)


@per_profile(maxsize=512)
def shapes(cost: Profile) -> tuple[Shape, ...]:
    """The drawing's slots in forward order, from the profile's rows (conv, depthwise and linear layers)."""
    column = {name: index for index, name in enumerate(cost.columns)}
    name_at, stage_at, type_at = column["name"], column["stage"], column["type"]
    out_at, size_at, part_at = column["out_channels"], column["output_size"], column.get("part")
    slots: dict[str, dict] = {}
    for row in cost.rows:
        name = row[name_at]
        if row[type_at] not in DRAWN_TYPES or name.endswith("downsample"):
            continue
        part = row[part_at] if part_at is not None else ("head" if row[type_at] == "linear" else "backbone")
        slot = slots.setdefault(_slot(name), {"stage": row[stage_at], "part": part, "branches": {}, "inner": 0})
        bare = name.removeprefix("backbone.")
        branch = bare if bare in PARALLEL else "main"  # parallel branches side by side; a block's last conv wins
        slot["branches"][branch] = row[out_at]
        slot["inner"] = max(slot["inner"], row[out_at])
        slot["size"] = max(slot.get("size", 0), row[size_at])  # ASPP's pooled branch works on a 1 px map
    return tuple(Shape(key, slot["stage"], slot["part"], tuple(slot["branches"].values()), slot["inner"],
                       slot["size"]) for key, slot in slots.items())


def _height(channels: int) -> float:
    """Bar height in lane units: log of the channels on the fixed scale."""
    low, high = CHANNEL_SCALE
    return LANE * math.log(max(channels, low) / low) / math.log(high / low)


def _stage_colors(drawn: list[Shape]) -> dict[str, str]:
    """Each backbone stage its shade of blue, in order of appearance; neck and head their part colours."""
    stages = list(dict.fromkeys(shape.stage for shape in drawn if shape.part == "backbone"))
    colors = {}
    for index, stage in enumerate(stages):
        share = index / max(len(stages) - 1, 1)
        rgb = [round(a + (b - a) * share) for a, b in zip(*STAGE_RAMP)]
        colors[stage] = "rgb({},{},{})".format(*rgb)
    return colors


def _lane(drawn: list[Shape], bottom: float, label: str, resolution: int, room: float, faded: bool) -> list[dict]:
    """One network's bars (from ``bottom``) and its input square, as traces."""
    colors = _stage_colors(drawn)
    xs, ys, widths, fills, custom = [], [], [], [], []
    for index, shape in enumerate(drawn):
        count = len(shape.channels)
        for branch, channels in enumerate(shape.channels):
            xs.append(index + (branch - (count - 1) / 2) * 0.9 / count)
            ys.append(_height(channels))
            widths.append(0.8 / count)
            fills.append(colors.get(shape.stage, PART_COLORS.get(shape.part, "#7f7f7f")))
            custom.append([shape.name, shape.stage, channels, shape.inner, shape.size])
    opacity = 0.55 if faded else 1.0
    bars = dict(type="bar", x=xs, y=ys, base=[bottom] * len(ys), width=widths, name=label, showlegend=False,
                marker=dict(color=fills, opacity=opacity, line=dict(width=0)), customdata=custom,
                hovertemplate="%{customdata[0]} (%{customdata[1]})<br>%{customdata[2]} channels out, "
                              "%{customdata[3]} inside, %{customdata[4]} px maps<extra>" + label + "</extra>")
    side = MAX_SQUARE_PX * resolution / RESOLUTION_RANGE[1]
    square = dict(type="scatter", x=[-room / 2], y=[bottom + LANE / 2], mode="markers", showlegend=False,
                  name=f"{label}: input", cliponaxis=False,
                  marker=dict(symbol="square", size=side, color="rgba(127,127,127,0.25)",
                              line=dict(color="#444", width=1.5), opacity=opacity),
                  hovertemplate=f"input image {resolution}x{resolution} px<extra>{label}</extra>")
    return [bars, square]


def _head_label(drawn: list[Shape], bottom: float, head: str) -> dict | None:
    """The head's (or neck's) name over its first slot."""
    first = next((index for index, shape in enumerate(drawn) if shape.part != "backbone"), None)
    if first is None:
        return None
    part = drawn[first].part  # right-aligned over the lane's end: a one-layer classifier's label stays inside
    return dict(x=len(drawn) - 0.6, y=bottom + LANE, xanchor="right", yanchor="bottom", showarrow=False,
                text=HEAD_TITLES.get(head, head), font=dict(size=10, color=PART_COLORS[part]))


@per_profile(maxsize=256)
def diagram_figure(scaled: Profile, base: Profile, scaled_label: str, base_label: str) -> PlotlySpec:
    """The base network (top lane) and the scaled one (bottom lane), on one channel scale and one block axis."""
    lanes = [(shapes(base), LANE + GAP, base_label, base.resolution, True),
             (shapes(scaled), 0.0, scaled_label, scaled.resolution, False)]
    longest = max(len(drawn) for drawn, *_ in lanes)
    square_px = MAX_SQUARE_PX * max(base.resolution, scaled.resolution) / RESOLUTION_RANGE[1] + 16
    room = longest * square_px / (PLOT_WIDTH_PX - square_px)  # the input square's share of the x axis
    data, annotations = [], []
    for drawn, bottom, label, resolution, faded in lanes:
        data += _lane(drawn, bottom, label, resolution, room, faded)
        blocks = sum(shape.name.startswith("stages.") for shape in drawn)
        annotations.append(dict(x=0, xref="paper", y=bottom + LANE + GAP * 0.45, xanchor="left", yanchor="middle",
                                showarrow=False, font=dict(size=11, color="#333"),
                                text=f"<b>{label}</b>: {blocks} blocks, {resolution} px"))
        head = _head_label(drawn, bottom, scaled.head)
        if head:
            annotations.append(head)
    tickvals = [bottom + _height(tick) for bottom in (0.0, LANE + GAP) for tick in LANE_TICKS]
    layout = dict(
        title=dict(text="The network: base above, this variant below", font=dict(size=15)),
        template="plotly_white", height=HEIGHT + 20, margin=dict(l=10, r=10, t=40, b=10), showlegend=False,
        bargap=0, annotations=annotations,
        xaxis=dict(title=dict(text="blocks, input first (bar height: channels)"), range=[-room, longest - 0.4],
                   showticklabels=False, showgrid=False, zeroline=False, fixedrange=True, automargin=True),
        yaxis=dict(range=[-0.03, 2 * LANE + 1.6 * GAP], tickvals=tickvals,
                   ticktext=[str(tick) for tick in LANE_TICKS] * 2, tickfont=dict(size=9), showgrid=True,
                   gridcolor="#eee", zeroline=False, fixedrange=True,
                   title=dict(text="channels (log)"), automargin=True))
    return PlotlySpec(dict(data=data, layout=layout))


def network_diagram(column, scaled: Profile, base: Profile, scaled_label: str, base_label: str) -> None:
    """Draw the diagram in ``column`` (a Streamlit container)."""
    column.plotly_chart(diagram_figure(scaled, base, scaled_label, base_label), key="network_diagram")
