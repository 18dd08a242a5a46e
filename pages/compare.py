"""Compare: pinned variants side by side, as a table, bar charts and CSV."""
import pandas as pd
import streamlit as st

import core
from core.units import duration_ms, si, size_bytes
from ui import charts
from ui.cards import profile_or_error
from ui.downloads import download_csv
from ui.engine import cached_profile
from ui.labels import CONVENTION, backbone_label
from ui.latency_panel import pin_latencies
from ui.pins import pin_variant, pinned, pins
from ui.routing import require_router
from ui.sidebar import share_link, sync_query, url_warnings
from ui.spec_link import format_stages
from ui.state import Pin, pins_to_query

require_router()
st.title("Compare variants")
st.caption("Pin variants from the Explorer's sidebar, or add published presets here. " + CONVENTION)


def compare_line(row) -> str:
    """One pin as a numbered line of the phone's list: its name, top-1 and the numbers the charts draw."""
    top1 = f"top-1 {row.top1_shown}%, {row.top1_basis.split(', ')[0]}" if pd.notna(row.top1) else row.top1_basis
    latency = f", latency {row.latency_shown} ({row.latency_quality})" if pd.notna(row.latency_ms) else ""
    return (f"{row.pin}. **{row.label}**: {top1}; {row.params_shown} params, {row.macs_shown} MACs, "
            f"{row.activation_bytes_shown} activations{latency}")


def number_text(label: str, **options):
    """A column of numbers written as text (with their unit), aligned as numbers are."""
    return st.column_config.TextColumn(label, alignment="right", **options)


url_warnings("compare_warnings")  # the link's pins were read by ui.room, on whichever page it opened

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

# a custom pin's spec travels in the link (specs=), not in the table; per-stage lists as the link writes them
table = pd.DataFrame(items).drop(columns=["spec"], errors="ignore")
for column in ("sw", "sd"):
    table[column] = [format_stages(tuple(item.get(column) or ())) for item in items]
table.insert(0, "pin", range(1, len(table) + 1))  # the number each pin carries in the charts
latencies = pin_latencies([(cached_profile(pin.backbone, pin.width, pin.depth, pin.resolution, pin.batch, pin.dtype,
                                           pin.task, pin.head, pin.sw or None, pin.sd or None), pin)
                           for pin in pinned()])
table["top1"] = pd.to_numeric(table.top1, errors="coerce")  # NaN, not None, where there is none
table["latency_ms"] = pd.to_numeric(pd.Series([median for median, _ in latencies]), errors="coerce")
table["latency_quality"] = [grade or "" for _, grade in latencies]

# On a phone the table's columns do not fit: a numbered list there, the table on wider screens.
st.html("""<style>
@media (max-width: 640px) {.st-key-compare_table {display: none;}}
@media (min-width: 641px) {.st-key-compare_list {display: none;}}
</style>""")
st.markdown(f"**{len(items)} pinned**, numbered as in the charts below.")  # the table's toolbar floats over this
# Counts in SI (G = 10^9) and bytes in MiB, as on the cards (Streamlit's "compact" writes billions as "B"), and
# words where a number is missing (Streamlit writes "None")
shown = table.assign(**{f"{column}_shown": table[column].map(si) for column in ("params", "macs", "flops")},
                     **{f"{column}_shown": table[column].map(size_bytes)
                        for column in ("activation_bytes", "weight_bytes_fp32")},
                     top1_shown=[f"{value:.1f}" if pd.notna(value) else "n/a" for value in table.top1],
                     latency_shown=[duration_ms(value) if pd.notna(value) else "not measured"
                                    for value in table.latency_ms])
SHOWN = ["pin", "label", "top1_shown", "params_shown", "macs_shown", "activation_bytes_shown", "latency_shown",
         "latency_quality", "top1_basis", "task", "head", "batch", "dtype", "runtime", "flops_shown",
         "weight_bytes_fp32_shown", "backbone", "base", "width", "depth", "resolution", "sw", "sd", "device",
         "threads", "memory_format"]
with st.container(key="compare_table"):
    st.dataframe(shown, hide_index=True, column_order=SHOWN, column_config={
        "pin": st.column_config.NumberColumn("#", width=40, pinned=True),
        "label": st.column_config.TextColumn("variant", pinned=True),
        "top1_shown": number_text("top-1 %", help="see the basis column: published, estimate, or why there is "
                                  "none (n/a)"),
        "params_shown": number_text("params"),
        "macs_shown": number_text("MACs"),
        "activation_bytes_shown": number_text("activations"),
        "latency_shown": number_text("latency (measured)", help="median stored at the pin's settings (measure it "
                                     "on the Explorer's Latency view)"),
        "latency_quality": st.column_config.TextColumn("latency quality", help="provisional: measured on a busy "
                                                       "host or with a wide spread (core.measurement.quality)"),
        "top1_basis": st.column_config.TextColumn("top-1 basis"),
        "flops_shown": number_text("FLOPs (2 x MACs)"),
        "weight_bytes_fp32_shown": number_text("weights fp32"),
        "sw": st.column_config.TextColumn("width x per stage", help="empty: uniform"),
        "sd": st.column_config.TextColumn("depth x per stage", help="empty: uniform")})
with st.container(key="compare_list"):
    st.markdown("\n".join(compare_line(row) for row in shown.itertuples()))
metrics = {"params": "Parameters", "macs": "MACs (conv + linear)", "activation_bytes": "Activation memory (MiB)"}
if table.latency_ms.notna().any():
    metrics["latency_ms"] = "Latency, ms (measured)"
st.plotly_chart(charts.compare_bars_figure(table, metrics), key="compare_chart", config={"displayModeBar": False})
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
