"""A fitted scaling model of ImageNet top-1 per family: smooth, monotone and saturating in each axis.

For a network at width ``w``, depth ``d`` and resolution ``r`` (base resolution ``r0``), with
``x = (log w, log d, log r/r0)``::

    u    = sum_k  c_k * (1 - exp(-b_k * x_k))                   x_k > 0: capacity, one term per axis
                  c_k * b_k / a_k * (1 - exp(-a_k * x_k))       x_k <= 0: the same slope at the base
    top1 = C + (T_inf - C) * exp(-K * exp(-u))                  C = 0.1 % (chance), top1(u=0) = T_base

Each axis is concave and saturates on its own at ``c_k`` (Tan & Le 2019, Observation 1: one axis
alone flattens out); scaling all three adds their terms, so compound scaling keeps climbing after
each axis has flattened (Observation 2). Below the base each term falls with its own rate ``a_k``
(no family's data go below the base in depth: there the pooled rate speaks), smoothly joined at the
base, and the outer curve bends down towards chance, never below. Every term rises with its
``x_k``: monotone in each axis.

Each published run enters as what it is: results of one training setup (a paper table, a
checkpoint release) share an additive ``offset`` to the level, so Figure 3's 76.1% baseline and
Table 2's 77.1% are two setups of one network, not a contradiction to average away. The estimate
reports the family's reference setup (offset 0): the one the Explorer shows at the base.

Families share one prior: each family's shape parameters (headroom, ``c_k``, ``b_k``, ``a_k``) are drawn
towards common values that the fit learns from all families at once (partial pooling), so an axis
a family has few results along borrows the others' shape rather than an arbitrary one, and says so.
The fit is a scipy ``least_squares`` problem; this module is pure math and never imports streamlit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.measurement.quality import percentile

AXES = ("width", "depth", "resolution")
CHANCE = 0.1  # top-1 % of guessing among 1000 classes
SHAPE = ("headroom", "c_width", "b_width", "c_depth", "b_depth", "c_resolution", "b_resolution",
         "a_width", "a_depth", "a_resolution")
N_PARAMS = 1 + len(SHAPE)  # T_base, then the shape
# A family's log shape parameter sits within about x1.35 of the pooled value (picked from 0.2-1.0 by the
# leave-one-out error while the model took shape; README).
PRIOR_SCALE = 0.3
OFFSET_SCALE = 10.0  # pp: a training setup's offset, a weak prior (a setup's own points decide it)
HYPER_SCALE = 3.0  # the pooled values themselves: practically free
MAX_EXPONENT = 50.0  # exp() argument cap: far below the base a term is already at chance
BAND_QUANTILE = 0.68  # the band holds this share of the held-out points
MIN_BAND = 0.3  # pp: never narrower than the figures' printed precision can support
# Beyond the published data an axis' rate is the fit's guess (or the pooled prior's): half of the
# change the model makes out there is counted as uncertain.
EXTRAPOLATED_SHARE = 0.5


@dataclass(frozen=True)
class Point:
    """One published result as the fit sees it: its setup, configuration (log space) and top-1."""

    setup: str
    x: tuple[float, float, float]
    top1: float
    weight: float = 1.0


def _term(c: float, b: float, a: float, x: float) -> float:
    """One axis' share of capacity: c (1 - e^(-b x)) above the base, saturating at c; below it
    c b / a (1 - e^(-a x)), falling at its own rate with the same slope at the base."""
    if x > 0:
        return c * (1.0 - math.exp(-b * x))
    return c * b / a * (1.0 - math.exp(min(-a * x, MAX_EXPONENT)))


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


@dataclass(frozen=True)
class FamilyModel:
    """A family's fitted parameters, its setups' offsets and its leave-one-out error.

    ``params`` are (T_base, headroom logit, log c_w, log b_w, log c_d, log b_d, log c_r, log b_r,
    log a_w, log a_d, log a_r);
    ``x_min``/``x_max`` bound the published data in each axis (log space); ``band`` is the
    ``BAND_QUANTILE`` of |leave-one-out error| over the scored points (``loo_errors``).
    """

    family: str
    params: tuple[float, ...]
    offsets: dict[str, float]
    x_min: tuple[float, float, float]
    x_max: tuple[float, float, float]
    points: int
    setups: dict[str, int]
    loo_errors: tuple[float, ...] = ()
    band: float = MIN_BAND
    extra: dict = field(default_factory=dict)

    @property
    def base_top1(self) -> float:
        return self.params[0]

    @property
    def ceiling(self) -> float:
        """T_inf: where scaling every axis without end would lead."""
        base = self.params[0]
        return base + (100.0 - base) * _sigmoid(self.params[1])

    def saturation(self, axis: str) -> float:
        return math.exp(self.params[2 + 2 * AXES.index(axis)])

    def rate(self, axis: str) -> float:
        return math.exp(self.params[3 + 2 * AXES.index(axis)])

    def rate_below(self, axis: str) -> float:
        return math.exp(self.params[8 + AXES.index(axis)])

    def capacity(self, x: tuple[float, float, float]) -> float:
        total = 0.0
        for index, value in enumerate(x):
            c, b = math.exp(self.params[2 + 2 * index]), math.exp(self.params[3 + 2 * index])
            total += _term(c, b, math.exp(self.params[8 + index]), value)
        return total

    def top1_of_capacity(self, u: float) -> float:
        base, ceiling = self.params[0], self.ceiling
        k = math.log((ceiling - CHANCE) / (base - CHANCE))
        return CHANCE + (ceiling - CHANCE) * math.exp(-k * math.exp(min(-u, MAX_EXPONENT)))

    def top1(self, x: tuple[float, float, float], setup: str | None = None) -> float:
        """Top-1 at ``x`` for the reference setup (or ``setup``'s level)."""
        return self.top1_of_capacity(self.capacity(x)) + (self.offsets.get(setup, 0.0) if setup else 0.0)

    def axis_limit(self, axis: str) -> float:
        """Where scaling this axis alone saturates (the reference setup's level)."""
        return self.top1_of_capacity(self.saturation(axis))

    def outside(self, x: tuple[float, float, float]) -> float:
        """How far ``x`` lies outside the published data, summed over axes, in doublings (0 inside)."""
        return sum(max(0.0, value - high, low - value)
                   for value, low, high in zip(x, self.x_min, self.x_max)) / math.log(2)

    def inside(self, x: tuple[float, float, float]) -> tuple[float, float, float]:
        """The nearest configuration within the published data's range in every axis."""
        return tuple(min(max(value, low), high) for value, low, high in zip(x, self.x_min, self.x_max))

    def band_at(self, x: tuple[float, float, float]) -> float:
        """The error band: the leave-one-out band, one band wider per doubling outside the data, plus
        ``EXTRAPOLATED_SHARE`` of whatever the model adds or takes away beyond the data."""
        beyond = abs(self.top1(x) - self.top1(self.inside(x)))
        return self.band * (1.0 + self.outside(x)) + EXTRAPOLATED_SHARE * beyond

    def loo_median(self) -> float | None:
        return percentile(sorted(abs(error) for error in self.loo_errors), 0.5) if self.loo_errors else None


# ---------------------------------------------------------------------------------------------
# Fitting: one least-squares problem over every family (shared prior), then leave-one-out.

@dataclass(frozen=True)
class Problem:
    """Every family's points and reference setup, laid out for the optimizer."""

    families: tuple[str, ...]
    points: dict[str, tuple[Point, ...]]
    reference: dict[str, str]

    def setups(self, family: str) -> list[str]:
        """A family's non-reference setups (each gets an offset), in first-seen order."""
        seen = dict.fromkeys(point.setup for point in self.points[family])
        return [setup for setup in seen if setup != self.reference[family]]


def _start(problem: Problem, family: str) -> list[float]:
    points = problem.points[family]
    at_base = [p.top1 for p in points if p.setup == problem.reference[family] and not any(p.x)]
    base = at_base[0] if at_base else sum(p.top1 for p in points) / len(points)
    return [base, *[0.0] * len(SHAPE)]


def fit(problem: Problem, leave_out: tuple[str, int] | None = None, start=None,
        pooled: dict[str, float] | None = None) -> dict[str, FamilyModel]:
    """Fit every family at once, the pooled shape with them; ``leave_out`` = (family, index) drops one point.

    With ``pooled`` given, the prior is held there and only the families of ``start`` (a previous
    fit's models) that ``leave_out`` touches are refitted: leave-one-out refits one family in
    milliseconds instead of all of them (the held-out point's share in the pooled shape is one
    family of six, and is left in).
    """
    import numpy as np
    from scipy.optimize import least_squares

    families = problem.families if pooled is None else (leave_out[0],)
    setups = {family: problem.setups(family) for family in families}
    rows = [(f_index, family, index, point) for f_index, family in enumerate(families)
            for index, point in enumerate(problem.points[family]) if (family, index) != leave_out]
    x = np.array([point.x for *_, point in rows])
    y = np.array([point.top1 for *_, point in rows])
    weight = np.array([point.weight for *_, point in rows])
    family_of = np.array([f_index for f_index, *_ in rows])
    offset_names = [(family, setup) for family in families for setup in setups[family]]
    offset_index = {name: index for index, name in enumerate(offset_names)}
    offset_of = np.array([offset_index.get((family, point.setup), -1) for _, family, _, point in rows])
    n_family, n_offset, n_shape = len(families), len(offset_names), len(SHAPE)
    fixed = None if pooled is None else np.array([pooled[name] for name in SHAPE])

    def unpack(theta):
        params = theta[:N_PARAMS * n_family].reshape(n_family, N_PARAMS)
        offsets = theta[N_PARAMS * n_family:N_PARAMS * n_family + n_offset]
        return params, offsets, theta[N_PARAMS * n_family + n_offset:] if fixed is None else fixed

    def residuals(theta):
        params, offsets, shape = unpack(theta)
        p = params[family_of]
        base = p[:, 0]
        ceiling = base + (100.0 - base) / (1.0 + np.exp(-p[:, 1]))
        u = np.zeros(len(y))
        for axis in range(3):
            c, b, a = np.exp(p[:, 2 + 2 * axis]), np.exp(p[:, 3 + 2 * axis]), np.exp(p[:, 8 + axis])
            above = c * (1.0 - np.exp(-b * np.maximum(x[:, axis], 0.0)))
            below = c * b / a * (1.0 - np.exp(np.minimum(-a * np.minimum(x[:, axis], 0.0), MAX_EXPONENT)))
            u += np.where(x[:, axis] > 0, above, below)
        k = np.log((ceiling - CHANCE) / np.maximum(base - CHANCE, 1e-9))
        top1 = CHANCE + (ceiling - CHANCE) * np.exp(-k * np.exp(np.minimum(-u, MAX_EXPONENT)))
        top1 = top1 + np.where(offset_of >= 0, offsets[np.maximum(offset_of, 0)], 0.0)
        prior = ((params[:, 1:] - shape) / PRIOR_SCALE).ravel()
        terms = [(top1 - y) * weight, prior, offsets / OFFSET_SCALE]
        return np.concatenate(terms if fixed is not None else [*terms, shape / HYPER_SCALE])

    if start is None:
        theta = np.concatenate([np.ravel([_start(problem, family) for family in families]),
                                np.zeros(n_offset), np.zeros(n_shape)])
    else:  # a previous fit's models: their parameters and offsets (and pooled shape, when fitted)
        theta = np.concatenate([np.ravel([start[family].params for family in families]),
                                [start[family].offsets[setup] for family, setup in offset_names],
                                [] if fixed is not None else [start[families[0]].extra["pooled"][name]
                                                              for name in SHAPE]])
    lower, upper = np.full(len(theta), -np.inf), np.full(len(theta), np.inf)
    for f_index in range(n_family):  # T_base between chance and 100 %; log rates and saturations bounded
        first = N_PARAMS * f_index
        lower[first], upper[first] = CHANCE + 1.0, 99.0
        lower[first + 2:first + N_PARAMS], upper[first + 2:first + N_PARAMS] = -6.0, 4.0
    # Which residual depends on which parameter: a point on its family's own and its setup's offset, a
    # prior term on one family parameter and its pooled value. Finite differences then perturb many
    # parameters at once (one family's never moves another's points): several times fewer evaluations.
    n_residuals = len(residuals(theta))
    sparsity = np.zeros((n_residuals, len(theta)), dtype=bool)
    for row, (f_index, offset) in enumerate(zip(family_of, offset_of)):
        sparsity[row, N_PARAMS * f_index:N_PARAMS * (f_index + 1)] = True
        if offset >= 0:
            sparsity[row, N_PARAMS * n_family + offset] = True
    for f_index in range(n_family):
        for shape in range(n_shape):
            row = len(y) + f_index * n_shape + shape
            sparsity[row, N_PARAMS * f_index + 1 + shape] = True
            if fixed is None:
                sparsity[row, N_PARAMS * n_family + n_offset + shape] = True
    tail = len(y) + n_family * n_shape
    sparsity[tail:, N_PARAMS * n_family:] = np.eye(n_residuals - tail, dtype=bool)
    solution = least_squares(residuals, np.clip(theta, lower + 1e-9, upper - 1e-9), bounds=(lower, upper),
                             jac_sparsity=sparsity, x_scale="jac", xtol=1e-9, ftol=1e-9, gtol=1e-9)
    params, offsets, shape = unpack(solution.x)
    shared = dict(zip(SHAPE, (float(value) for value in shape)))
    models = {}
    for f_index, family in enumerate(families):
        points = problem.points[family]
        xs = list(zip(*(point.x for point in points)))
        models[family] = FamilyModel(
            family, tuple(float(value) for value in params[f_index]),
            {setup: float(offsets[offset_index[family, setup]]) for setup in setups[family]},
            tuple(min(values) for values in xs), tuple(max(values) for values in xs), len(points),
            {setup: sum(point.setup == setup for point in points)
             for setup in dict.fromkeys(point.setup for point in points)},
            extra={"pooled": shared})
    return models


def scored(problem: Problem, family: str) -> list[int]:
    """Points leave-one-out can score: their setup keeps another point to fix its level."""
    points = problem.points[family]
    return [index for index, point in enumerate(points)
            if sum(other.setup == point.setup for other in points) >= 2]


def fit_with_error(problem: Problem) -> dict[str, FamilyModel]:
    """The fit on every point, with each family's leave-one-out errors and band."""
    from dataclasses import replace

    models = fit(problem)
    pooled = next(iter(models.values())).extra["pooled"]
    errors: dict[str, list[float]] = {family: [] for family in problem.families}
    for family in problem.families:
        for index in scored(problem, family):
            point = problem.points[family][index]
            held_out = fit(problem, leave_out=(family, index), start=models, pooled=pooled)[family]
            errors[family].append(held_out.top1(point.x, point.setup) - point.top1)
    result = {}
    for family, model in models.items():
        ordered = sorted(abs(error) for error in errors[family])
        band = max(MIN_BAND, percentile(ordered, BAND_QUANTILE)) if ordered else None
        result[family] = replace(model, loo_errors=tuple(errors[family]),
                                 band=band if band is not None else MIN_BAND)
    return result
