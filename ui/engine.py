"""Engine calls the pages share, cached with bounded sizes.

Pure functions of their arguments that return immutable values (or frames callers only read) are
``functools`` caches (profiles: a dictionary weighed by rows): a slider move pays a dictionary lookup, not
``st.cache_resource``'s per-call signature inspection and argument hashing (7% of the server's busy time per
move under a class load, py-spy --gil, bench/bench_class.py). Only the shared latency queue, a resource with a
lifetime, stays in Streamlit's cache.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from functools import cache, lru_cache, wraps
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where used: a first page view shows numbers before its 0.5 s import
    import pandas as pd
import streamlit as st

import core
from core.measurement.jobs import LatencyQueue
from core.network.architecture import Architecture
from core.network.counting import Profile
from core.network.families import register, resolve
from core.network.scaling import ScalingError
from core.prediction.latency_model import Calibration, LatencyPrediction, load_calibration, predict_from_profile
from core.prediction.roofline import HOST
from core.published import reference
from ui import charts


# Profiles held, weighed by their rows (a row is ~450 bytes with its tuple; the per-layer table roughly doubles a
# profile once drawn): 200,000 rows is ~100-200 MB per process, a few thousand built-in variants (60-400 rows) or
# ~65 of the largest spec's (3,000 rows); a count alone would let 2,048 of those hold gigabytes.
PROFILE_ROWS = 200_000
_PROFILES: OrderedDict[tuple, Profile] = OrderedDict()
_PROFILES_LOCK = threading.Lock()  # sessions run in threads
_held_rows = 0


def _profile(*key) -> Profile:
    """``core.profile`` of ``key`` (cached_profile's arguments), least recently used first out past the row budget."""
    global _held_rows
    with _PROFILES_LOCK:
        cost = _PROFILES.get(key)
        if cost is not None:
            _PROFILES.move_to_end(key)
            return cost
    backbone, width, depth, resolution, batch, dtype, task, head, stage_width, stage_depth = key
    cost = core.profile(backbone, width, depth, resolution, batch=batch, dtype=dtype, task=task, head=head,
                        stage_width=stage_width, stage_depth=stage_depth)  # outside the lock: others go on
    with _PROFILES_LOCK:
        if key not in _PROFILES:
            _PROFILES[key] = cost
            _held_rows += len(cost.rows)
            while _held_rows > PROFILE_ROWS and len(_PROFILES) > 1:
                _held_rows -= len(_PROFILES.popitem(last=False)[1].rows)
    return cost


def cached_profile(backbone: str | Architecture, width: float, depth: float, resolution: int, batch: int = 1,
                   dtype: str = "float32", task: str = "classification", head: str | None = None,
                   stage_width: tuple[float, ...] | None = None,
                   stage_depth: tuple[float, ...] | None = None) -> Profile:
    """``core.profile``, cached; ``stage_width`` / ``stage_depth`` (tuples, one per stage) scale per stage.

    ``backbone`` is a name, or a profile's ``source`` (a custom architecture is its own cache key). The profile
    carries its architecture, so what the page does with it next needs no name lookup; the networks it counted
    are named again in the engine's bounded registry, for the lookups by name that remain (a queued run's check).
    """
    cost = _profile(backbone, width, depth, resolution, batch, dtype, task, head, stage_width, stage_depth)
    for arch in (cost.architecture, cost.source):
        if isinstance(arch, Architecture) and arch.custom:
            register(arch)
    return cost


def per_profile(maxsize: int):
    """Remember a pure function of profiles and calibrations (compared by identity) and hashable values, least
    recently used out past ``maxsize``: what the page draws or predicts from a cached profile is the same for
    every student at the same slider positions, and a class revisits them."""
    def decorate(function):
        held: OrderedDict[tuple, tuple] = OrderedDict()
        lock = threading.Lock()

        @wraps(function)
        def remembered(*args):
            key = tuple(id(arg) if isinstance(arg, _BY_IDENTITY) else arg for arg in args)
            with lock:
                entry = held.get(key)
                # the ids of objects that are gone may be reused: the entry holds its own, compared by identity
                if entry is not None and all(mine is arg for mine, arg in zip(entry[0], args)
                                             if isinstance(arg, _BY_IDENTITY)):
                    held.move_to_end(key)
                    return entry[1]
            value = function(*args)
            with lock:
                held[key] = (args, value)
                held.move_to_end(key)
                while len(held) > maxsize:
                    held.popitem(last=False)
            return value

        remembered.held = held
        return remembered
    return decorate


_BY_IDENTITY = (Profile, Calibration)  # immutable once made, but unhashable or costly to hash
PREDICTIONS = 256  # predictions held (~50 KB each with their layer rows): a class's recent variants


@per_profile(maxsize=PREDICTIONS)
def _prediction(cost: Profile, calibration: Calibration | None, runtime: str, device: str,
                threads: int) -> LatencyPrediction:
    return predict_from_profile(cost, runtime, device, threads)  # which loads that same calibration


def cached_prediction(cost: Profile, runtime: str, device: str, threads: int) -> LatencyPrediction:
    """``predict_from_profile`` of a cached profile, remembered per profile and calibration object (a class
    revisits the same slider positions; the staircase predicts 21 neighbours per move). Errors (no calibration,
    a dtype the runtime does not time) are raised by ``predict_from_profile`` itself, never remembered."""
    try:
        calibration = load_calibration(runtime, cost.dtype, threads) if device == HOST else None
    except ScalingError:
        return predict_from_profile(cost, runtime, device, threads)  # raises the precise refusal
    return _prediction(cost, calibration, runtime, device, threads)


def base_profile(base: str, batch: int = 1, dtype: str = "float32") -> Profile:
    """The unscaled backbone every delta is measured against (a custom spec: at width 1, depth 1, its resolution)."""
    return cached_profile(base, 1.0, 1.0, resolve(base)[0].default_resolution, batch, dtype)


@cache
def reference_points() -> pd.DataFrame:
    """Published curve points (read-only: callers must not modify it)."""
    return reference.curve_points()


@cache
def reference_costs() -> pd.DataFrame:
    """Engine-computed params and MACs of every published curve point."""
    import pandas as pd
    points = reference_points()
    rows = []
    for point in points.itertuples():
        width = 1.0 if pd.isna(point.width_mult) else point.width_mult
        cost = core.profile(point.backbone, width, point.depth_mult, int(point.resolution))
        rows.append({"curve": point.curve, "variant": point.variant, "params": cost.params, "macs": cost.macs})
    return pd.DataFrame(rows)


@cache
def curve_traces(unit: str) -> tuple[dict, ...]:
    """The published curves as chart traces, built once per unit (read-only)."""
    return tuple(charts.curve_traces(reference_points(), unit))


@lru_cache(maxsize=64)
def series_traces(base: str, unit: str) -> tuple[dict, ...]:
    """A base network's published single-axis scaling series as chart traces (read-only)."""
    return tuple(charts.series_traces(reference.scaling_series(base), unit))


@lru_cache(maxsize=64)
def model_traces(base: str, unit: str) -> tuple[dict, ...]:
    """The fitted accuracy model's curves for a base network's family, as chart traces (read-only)."""
    family = reference.family_for(base)
    title = family.title if family else base
    return tuple(charts.model_traces(reference.model_curves(base), unit, title))


@cache
def params_traces(unit: str) -> tuple[dict, ...]:
    """Engine-computed params against cost of every published model, as chart traces (read-only)."""
    return tuple(charts.params_traces(reference_costs(), unit))


@st.cache_resource(show_spinner=False)
def latency_queue() -> LatencyQueue:
    """The shared latency queue and result store (the worker process runs what it holds)."""
    return LatencyQueue()
