"""Pinned variants for the Compare page: kept in session state, so they survive reruns and page switches."""
from __future__ import annotations

import streamlit as st

from core.counting import Profile
from ui.cards import variant_accuracy
from ui.labels import variant_label
from ui.latency_panel import latency_for
from ui.state import MAX_PINS


def pins() -> list[dict]:
    """Variants pinned for the Compare page (session state: survives reruns, page switches, errors)."""
    return st.session_state.setdefault("pins", [])


def pin_variant(cost: Profile, announce: bool = True) -> None:
    """Add a variant to the pins (once, and at most ``MAX_PINS``); ``announce`` shows a toast."""
    label = variant_label(cost.backbone, cost.width, cost.depth, cost.resolution)
    if any(pin["label"] == label for pin in pins()):
        if announce:
            st.toast(f"{label} is already pinned")
        return
    if len(pins()) >= MAX_PINS:
        if announce:
            st.toast(f"At most {MAX_PINS} pins: remove one on the Compare page first")
        return
    published, estimate = variant_accuracy(cost)
    if published is not None:
        top1, basis = published.top1, f"published ({published.variant})"
    elif estimate.top1 is not None:
        top1, basis = round(estimate.top1, 2), f"estimate on {estimate.curve}"
    else:
        top1, basis = None, f"no estimate: {estimate.basis}"
    latency_ms, latency_quality = latency_for(cost)
    pins().append({"label": label, "backbone": cost.backbone, "base": cost.base, "width": cost.width,
                   "depth": cost.depth, "resolution": cost.resolution, "params": cost.params,
                   "macs": cost.macs, "flops": cost.flops, "activation_bytes": cost.activation_bytes,
                   "weight_bytes_fp32": cost.weight_bytes["fp32"], "top1": top1, "top1_basis": basis,
                   "latency_ms": latency_ms, "latency_quality": latency_quality})
    if announce:
        st.toast(f"Pinned {label}; see the Compare page")
