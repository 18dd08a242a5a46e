"""The per-layer table as shown and downloaded: cost in the chosen unit, shares, readable numbers."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where used: a first page view shows numbers before its 0.5 s import
    import pandas as pd
import streamlit as st

from core.network.counting import Profile
from ui.charts import unit_factor


def layer_table(cost: Profile, unit: str) -> pd.DataFrame:
    """Per-layer rows with the cost column named for ``unit`` ('macs' or 'flops' = 2 x MACs) and shares in %."""
    column = unit.lower()
    table = cost.layers.rename(columns={"macs": column})
    table[column] = cost.layers.macs * unit_factor(unit)
    table[f"{column}_share"] = (cost.layers.macs / cost.macs * 100).round(2)
    table["params_share"] = (cost.layers.params / cost.params * 100).round(2)
    return table


def layer_column_config(unit: str) -> dict:
    """Every digit, in groups of three (as the CSV has them). Not Streamlit's compact format: it writes 10^9
    as "B", which under a memory column reads as bytes."""
    column = unit.lower()
    return {
        "name": st.column_config.TextColumn("layer", pinned=True),
        "params": st.column_config.NumberColumn("params", format="localized"),
        column: st.column_config.NumberColumn(unit, format="localized",
                                              help="FLOPs = 2 x MACs" if unit == "FLOPs" else "multiply-accumulates"),
        "activation_bytes": st.column_config.NumberColumn("activations (bytes)", format="localized"),
        "output_size": st.column_config.NumberColumn("out px", format="%d"),
        "in_channels": st.column_config.NumberColumn("in ch", format="%d"),
        "out_channels": st.column_config.NumberColumn("out ch", format="%d"),
        f"{column}_share": st.column_config.NumberColumn(f"{unit} %", format="%.2f"),
        "params_share": st.column_config.NumberColumn("params %", format="%.2f"),
    }
