"""Downloads of what a page shows."""
from __future__ import annotations

import pandas as pd
import streamlit as st


def download_csv(table: pd.DataFrame, file_name: str, label: str = "Download CSV", key: str | None = None) -> None:
    st.download_button(label, table.to_csv(index=False).encode(), file_name=file_name, mime="text/csv",
                       key=key, on_click="ignore")
