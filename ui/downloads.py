"""Downloads of what a page shows."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where used: a first page view shows numbers before its 0.5 s import
    import pandas as pd
import streamlit as st


def download_csv(table: pd.DataFrame, file_name: str, label: str = "Download CSV", key: str | None = None) -> None:
    st.download_button(label, table.to_csv(index=False).encode(), file_name=file_name, mime="text/csv",
                       key=key, on_click="ignore")
