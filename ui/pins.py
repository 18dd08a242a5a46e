"""Pinned variants for the Compare page: kept in session state, so they survive reruns and page switches.

A pin is a network and every setting that changes one of its numbers (``ui.state.Pin``: task, head,
batch, dtype, runtime, device, threads, memory format), so a Compare link opened elsewhere computes
the same table; measured latencies are looked up in the shared store when the table is drawn.
"""
from __future__ import annotations

from dataclasses import asdict, replace

import streamlit as st

from core.network.counting import Profile
from ui.cards import profile_or_error, variant_accuracy
from ui.labels import variant_label
from ui.safe_text import quoted
from ui.spec_link import decode_spec, decode_specs, network_of
from ui.state import MAX_PINS, Pin, parse_pins


def pins() -> list[dict]:
    """Variants pinned for the Compare page (session state: survives reruns, page switches, errors)."""
    return st.session_state.setdefault("pins", [])


def pin_label(cost: Profile, pin: Pin) -> str:
    """The variant's label, with the settings that differ from the Explorer's defaults (so two pins of one
    network at another batch or runtime are told apart)."""
    label = variant_label(cost.backbone, cost.width, cost.depth, pin.resolution)
    extras = pin.extras()
    return " ".join([label, *(f"{key}={value}" for key, value in extras.items())])


def pin_variant(cost: Profile, pin: Pin, announce: bool = True) -> None:
    """Add a variant to the pins (once, and at most ``MAX_PINS``); ``announce`` shows a toast."""
    label = pin_label(cost, pin)
    if any(item["label"] == label for item in pins()):
        if announce:
            st.toast(f"{label} is already pinned")
        return
    if len(pins()) >= MAX_PINS:
        if announce:
            st.toast(f"At most {MAX_PINS} pins: remove one on the Compare page first")
        return
    estimate = variant_accuracy(cost)  # a dense-task network gets none: an ImageNet top-1 describes another
    if estimate.published:
        top1, basis = estimate.top1, f"published ({estimate.variant})"
    elif estimate.top1 is not None:
        top1, basis = round(estimate.top1, 2), (
            f"estimate ±{estimate.band:.1f} pp, fitted model of {estimate.family}"
            + (", extrapolated" if estimate.extrapolated else ""))
    else:
        top1, basis = None, f"no estimate: {estimate.basis}"
    # a custom pin keeps its spec (canonical, ``Pin.spec``): every link that carries the pin carries it (``specs=``)
    pins().append({"label": label, **asdict(pin), "base": cost.base, "width": cost.width,
                   "depth": cost.depth, "params": cost.params, "macs": cost.macs, "flops": cost.flops,
                   "activation_bytes": cost.activation_bytes, "weight_bytes_fp32": cost.weight_bytes["fp32"],
                   "top1": top1, "top1_basis": basis})
    if announce:
        st.toast(f"Pinned {label}; see the Compare page")


def pinned() -> list[Pin]:
    """The pins as ``Pin`` values (what the Compare link carries); their custom networks named again, so the
    engine's bounded registry keeps them findable."""
    fields = Pin.__dataclass_fields__
    for spec in pinned_specs():
        network_of(spec)
    return [Pin(**{key: item[key] for key in fields if key in item}) for item in pins()]


def pinned_specs() -> list[str]:
    """The canonical specs of the pinned custom networks, each once, in pin order."""
    return list(dict.fromkeys(item["spec"] for item in pins() if item.get("spec")))


def pin_profile(pin: Pin) -> Profile | None:
    """The pin's network counted at its settings, or None after one line saying why."""
    return profile_or_error(pin.backbone, pin.width, pin.depth, pin.resolution, pin.batch, pin.dtype, pin.task,
                            pin.head, pin.sw or None, pin.sd or None)


def restore_pins(query: dict[str, str]) -> None:
    """A link's pins join this session's once, on whichever page the link opens, so a reload keeps them.

    A pin may name a custom network whose spec the link carries (``spec=`` or ``specs=``). What could not
    be read is listed on the Compare page (``compare_warnings``).
    """
    if "compare_loaded" in st.session_state:
        return
    texts, problems = decode_specs(query.get("specs", ""), MAX_PINS)
    warnings = [f"The link's specs: {quoted(problem, 160)}." for problem in problems[:2]]
    if query.get("spec"):
        texts.append(decode_spec(query["spec"])[0])  # the Explorer says what is wrong with its own spec
    custom = {network_of(text): text for text in texts if text}
    linked, pin_warnings = parse_pins(query.get("pins", ""), frozenset(custom))
    st.session_state["compare_warnings"] = warnings + pin_warnings
    for pin in (replace(pin, spec=custom.get(pin.backbone, "")) for pin in linked):
        cost = pin_profile(pin)
        if cost is not None:
            pin_variant(cost, pin, announce=False)
    st.session_state["compare_loaded"] = True
