"""Compound scaling: the phi path, cost over width x resolution, theory against exact counts."""
import pandas as pd
import streamlit as st

import core
from core.network.families import ARCHITECTURES
from core.network.scaling import DEPTH_RANGE, CompoundScaling
from core.published import reference
from ui import charts
from ui.downloads import download_csv
from ui.engine import cached_profile
from ui.labels import CONVENTION, backbone_title
from ui.routing import require_router
from ui.sidebar import share_link, sync_query, url_warnings
from ui.state import COMPOUND_BASE_RANGE, PHI_RANGE, CompoundPageState, parse_compound_query

require_router()
st.title("Compound scaling")
st.markdown("EfficientNet scales depth by **alpha^phi**, width by **beta^phi** and resolution by **gamma^phi**, "
            "with alpha x beta^2 x gamma^2 close to 2 so that cost roughly doubles per step of phi "
            "(Tan & Le 2019). Cost grows as **d x w^2 x r^2**: a conv's MACs scale with its input and "
            "output channels (w x w) and with its feature map (r x r).")

if "compound_loaded" not in st.session_state:  # a shared link sets the page once per session
    loaded, st.session_state["compound_warnings"] = parse_compound_query(
        {key: st.query_params.get_all(key) for key in st.query_params})
    for field, value in loaded.to_query().items():
        st.session_state[f"compound_{field}"] = value if field == "backbone" else float(value)
    st.session_state["compound_loaded"] = True
url_warnings("compound_warnings")

controls = st.columns([1.8, 1, 1, 1, 1])  # the backbone's name is the longest value in the row
base = controls[0].selectbox("Backbone", list(ARCHITECTURES), key="compound_backbone", format_func=backbone_title,
                             persist_state="session")
alpha = controls[1].number_input("alpha (depth)", *COMPOUND_BASE_RANGE, step=0.01, key="compound_alpha",
                                 persist_state="session")
beta = controls[2].number_input("beta (width)", *COMPOUND_BASE_RANGE, step=0.01, key="compound_beta",
                                persist_state="session")
gamma = controls[3].number_input("gamma (resolution)", *COMPOUND_BASE_RANGE, step=0.01, key="compound_gamma",
                                 persist_state="session")
phi = controls[4].slider("phi", *PHI_RANGE, step=0.1, key="compound_phi", persist_state="session")
query = CompoundPageState(base, alpha, beta, gamma, phi).to_query()
sync_query(query)
share_link(query, "compound")
product = alpha * beta ** 2 * gamma ** 2
st.caption(f"alpha x beta^2 x gamma^2 = {product:.3f} (the paper's constraint: about 2). " + CONVENTION)

base_resolution = ARCHITECTURES[base].default_resolution


@st.cache_data(max_entries=64, show_spinner=False)
def compound_table(base: str, alpha: float, beta: float, gamma: float) -> pd.DataFrame:
    """Per phi: the rule's multipliers, exact MACs and params, predicted and exact cost growth."""
    rows = []
    for step in range(0, 29):
        compound = CompoundScaling(step / 4, alpha, beta, gamma)
        width, depth, resolution = compound.config(base_resolution)
        try:
            cost = core.profile(base, width, depth, resolution)
        except core.ScalingError:
            break  # beyond the engine's ranges: the path stops here
        rows.append({"phi": step / 4, "width": width, "depth": depth,
                     "resolution": resolution, "resolution_factor": resolution / base_resolution,
                     "macs": cost.macs, "params": cost.params, "predicted": compound.cost_factor})
    table = pd.DataFrame(rows)
    table["exact"] = table.macs / table.macs.iloc[0]
    return table


table = compound_table(base, alpha, beta, gamma)
published = reference.load("efficientnet").query("origin == 'paper'").reset_index(drop=True)
published = published.assign(phi=published.index.astype(float), width=published.width_mult,
                             depth=published.depth_mult, resolution_factor=published.resolution / 224)
current = CompoundScaling(phi, alpha, beta, gamma)
width, depth, resolution = current.config(base_resolution)
try:
    point = cached_profile(base, width, depth, resolution)
except core.ScalingError as error:
    point = None
    st.error(f"phi = {phi:g} is beyond what the engine scales: {error}. Lower phi or the bases.",
             icon=":material/warning:")
if point is not None:
    columns = st.columns(4)
    columns[0].metric("width = beta^phi", f"{width:.3f}")
    columns[1].metric("depth = alpha^phi", f"{depth:.3f}")
    columns[2].metric("resolution = gamma^phi x base", f"{resolution} px")
    base_macs = table.macs.iloc[0]
    columns[3].metric("MACs growth (exact / theory)", f"x{point.macs / base_macs:.2f}",
                      f"theory x{current.cost_factor:.2f}", delta_color="off")

left, right = st.columns(2)
left.plotly_chart(charts.compound_path_figure(table, published), key="path_chart")
right.plotly_chart(charts.theory_figure(table), key="theory_chart")
st.caption("The exact ratio steps where rounding to multiples of 8 and ceil(repeats x depth) kick in; "
           "published B1-B7 coefficients are hand-rounded, so they sit near, not on, the rule.")


@st.cache_data(max_entries=64, show_spinner=False)
def macs_grid(base: str, depth: float) -> tuple[list[float], list[int], list[list[int]]]:
    widths = [round(0.25 + 0.125 * index, 3) for index in range(23)]
    resolutions = list(range(96, 1025, 32))
    return widths, resolutions, [[core.profile(base, width, depth, resolution).macs for width in widths]
                                 for resolution in resolutions]


map_depth = min(max(current.depth, DEPTH_RANGE[0]), DEPTH_RANGE[1])
widths, resolutions, grid = macs_grid(base, round(map_depth, 3))
star = (width, resolution) if point is not None else None
st.plotly_chart(charts.macs_heatmap_figure(widths, resolutions, grid, star), key="heatmap_chart")
if map_depth != current.depth:
    st.caption(f"depth = alpha^phi = {current.depth:,.2f} is beyond the engine's range ({DEPTH_RANGE[0]:g} to "
               f"{DEPTH_RANGE[1]:g}), so the map is drawn at depth {map_depth:g} and has no star.")
else:
    st.caption(f"At depth {map_depth:.2f} (alpha^phi). Colours and contours are logarithmic (each line is x1.41 "
               "MACs); moving along a contour trades width for resolution at equal MACs.")
download_csv(table, f"compound_{base}.csv", "Download the phi path (CSV)", key="compound_csv")
