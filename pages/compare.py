"""Compare: pinned variants side by side, as a table, bar charts and CSV."""
import pandas as pd
import streamlit as st

import core
from ui import charts
from ui.cards import profile_or_error
from ui.downloads import download_csv
from ui.labels import CONVENTION, backbone_label
from ui.engine import cached_profile
from ui.latency_panel import pin_latencies
from ui.pins import pin_variant, pinned, pins
from ui.routing import require_router
from ui.sidebar import share_link, sync_query, url_warnings
from ui.state import Pin, parse_pins, pins_to_query

require_router()
st.title("Compare variants")
st.caption("Pin variants from the Explorer's sidebar, or add published presets here. " + CONVENTION)
def pin_profile(pin: Pin):
    """The pinned network's profile at its own batch, dtype, task and head (None after saying why not)."""
    return profile_or_error(pin.backbone, pin.width, pin.depth, pin.resolution, pin.batch, pin.dtype, pin.task,
                            pin.head)


if "compare_loaded" not in st.session_state:  # a shared link's pins join this session's, once
    linked, st.session_state["compare_warnings"] = parse_pins(st.query_params.get("pins", ""))
    for pin in linked:
        cost = pin_profile(pin)
        if cost is not None:
            pin_variant(cost, pin, announce=False)
    st.session_state["compare_loaded"] = True
url_warnings("compare_warnings")

with st.form("add_preset", border=False):
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    name = left.selectbox("Add a backbone at its own settings", core.BACKBONE_NAMES, format_func=backbone_label)
    if right.form_submit_button("Pin it", icon=":material/push_pin:", width="stretch"):
        cost = profile_or_error(name, None, None, None)
        if cost is not None:
            pin_variant(cost, Pin.of(name, cost.width, cost.depth, cost.resolution))

items = pins()
query = {"pins": pins_to_query(pinned())} if items else {}
sync_query(query)
share_link(query, "compare")
if not items:
    st.info("Nothing pinned yet: move the sliders on the Explorer and press **Pin this variant**.")
    st.page_link("pages/explorer.py", label="Open the Explorer", icon=":material/tune:")
    st.stop()

table = pd.DataFrame(items)
latencies = pin_latencies([(cached_profile(pin.backbone, pin.width, pin.depth, pin.resolution, pin.batch, pin.dtype,
                                           pin.task, pin.head), pin) for pin in pinned()])
table["latency_ms"] = [median for median, _ in latencies]
table["latency_quality"] = [grade for _, grade in latencies]
SHOWN = ["label", "task", "head", "batch", "dtype", "runtime", "top1", "params", "macs", "activation_bytes",
         "latency_ms", "latency_quality", "top1_basis", "flops", "weight_bytes_fp32", "backbone", "base", "width",
         "depth", "resolution", "device", "threads", "memory_format"]
st.dataframe(table[SHOWN], hide_index=True, column_config={
    "label": st.column_config.TextColumn("variant", pinned=True),
    "top1": st.column_config.NumberColumn("top-1 %", format="%.1f", help="see the basis column: published or estimate"),
    "params": st.column_config.NumberColumn("params", format="compact"),
    "macs": st.column_config.NumberColumn("MACs", format="compact"),
    "activation_bytes": st.column_config.NumberColumn("activations (B)", format="compact"),
    "latency_ms": st.column_config.NumberColumn("latency ms (measured)", format="%.2f"),
    "latency_quality": st.column_config.TextColumn("latency quality", help="provisional: measured on a busy host "
                                                   "or with a wide spread (core.quality)"),
    "top1_basis": st.column_config.TextColumn("top-1 basis"),
    "flops": st.column_config.NumberColumn("FLOPs (2 x MACs)", format="compact"),
    "weight_bytes_fp32": st.column_config.NumberColumn("weights fp32 (B)", format="compact")})
metrics = {"params": "Parameters", "macs": "MACs (conv + linear)", "activation_bytes": "Activation memory (bytes)"}
if table.latency_ms.notna().any():
    metrics["latency_ms"] = "Median latency (ms, measured)"
st.plotly_chart(charts.compare_bars_figure(table, metrics), key="compare_chart")
download_csv(table, "pinned_variants.csv", "Download the comparison (CSV)", key="compare_csv")

with st.expander("Remove pins"):
    chosen = st.multiselect("Variants to remove", [item["label"] for item in items])
    left, right = st.columns(2)
    if left.button("Remove selected", disabled=not chosen):
        st.session_state["pins"] = [item for item in items if item["label"] not in chosen]
        st.rerun()
    if right.button("Clear all pins"):
        st.session_state["pins"] = []
        st.rerun()
