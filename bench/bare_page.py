"""The floor any page pays per slider move: one slider, two metrics, one Plotly chart.

bench/bench_serve.py serves it next to the app (`streamlit run bench/bare_page.py`).
"""
import plotly.graph_objects as go
import streamlit as st

value = st.slider("value", 0.1, 3.0, 1.0, step=0.05, key="value")
left, right = st.columns(2)
left.metric("value", f"{value:.2f}")
right.metric("square", f"{value * value:.4f}")
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3, 4], y=[value, value * 2, value * 3, value * value],
                                     mode="lines+markers")), key="chart")
