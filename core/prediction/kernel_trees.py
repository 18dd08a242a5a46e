"""What the linear per-kernel model misses, learnt by gradient-boosted trees on the kernels' shapes.

A kind's time per MAC is not one number: small channel counts, small maps, strides and layouts the
runtime handles well or badly move it by tens of percent. The calibration fits scikit-learn's
``HistGradientBoostingRegressor`` to log(profiled time / linear kernel time) per profiled layer, on
shape features (``features``), and stores the fitted trees as plain arrays in the calibration file. A
prediction multiplies each layer's linear time by exp(the trees' sum). The trees only correct: the linear
terms still carry a network far outside the calibration grid (a leaf is a bounded correction, never an
extrapolation), and where the kernels follow the linear model exactly every correction is zero.

Prediction runs on every slider move in the web server, which never imports scikit-learn:
``TreeEnsemble`` walks every tree for every layer at once with numpy, and a test checks it agrees with
scikit-learn's own ``predict``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from core.network.counting import LAYER_COLUMNS

_COLUMN = {name: index for index, name in enumerate(LAYER_COLUMNS)}
# Boosting settings: few, small trees (a prediction walks all of them) and no early stopping (reproducible).
TREES, LEAVES, LEARNING_RATE, MIN_LAYERS = 50, 15, 0.2, 200
FEATURES = ("kind", "log MACs", "log bytes", "log in channels", "log out channels", "kernel", "stride",
            "log output size", "log batch", "in channels aligned", "out channels aligned")


def features(row: tuple, kind_index: int, batch: int, bytes_moved: float, lanes: int | None) -> list[float]:
    """One layer's shape, in ``FEATURES`` order (``kind_index``: its kernel kind's place in the model's kinds)."""
    inputs, outputs = row[_COLUMN["in_channels"]], row[_COLUMN["out_channels"]]
    lanes = lanes or 1
    return [kind_index, math.log1p(row[_COLUMN["macs"]] * batch), math.log1p(bytes_moved), math.log1p(inputs),
            math.log1p(outputs), row[_COLUMN["kernel"]], row[_COLUMN["stride"]],
            math.log1p(row[_COLUMN["output_size"]]), math.log(batch), float(inputs % lanes == 0),
            float(outputs % lanes == 0)]


def fit(rows: list[list[float]], log_ratios: list[float]) -> dict:
    """Trees for ``log_ratios`` (log profiled / linear time) of ``rows`` (``features``), as plain arrays;
    empty (no correction) with fewer than ``MIN_LAYERS`` layers. Runs in the worker or the CLI."""
    if len(rows) < MIN_LAYERS:
        return {}
    import numpy
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(max_iter=TREES, max_leaf_nodes=LEAVES, learning_rate=LEARNING_RATE,
                                          early_stopping=False, random_state=0)
    model.fit(numpy.asarray(rows, dtype=float), numpy.asarray(log_ratios, dtype=float))
    return export(model)


def export(model) -> dict:
    """A fitted ``HistGradientBoostingRegressor`` (numerical features, no missing values) as arrays: per
    node its feature, threshold (a value <= it goes left), children (indices into the flat arrays; a leaf's
    are itself) and value (a leaf's, the learning rate applied); each tree's root; and the baseline."""
    flat = {"feature": [], "threshold": [], "left": [], "right": [], "value": []}
    roots, depth = [], 0
    for (predictor,) in model._predictors:  # scikit-learn's fitted trees: one per boosting round
        nodes, offset = predictor.nodes, len(flat["value"])
        roots.append(offset)
        for position, node in enumerate(nodes):
            leaf, here = bool(node["is_leaf"]), offset + position
            flat["feature"].append(0 if leaf else int(node["feature_idx"]))
            flat["threshold"].append(0.0 if leaf else float(node["num_threshold"]))
            flat["left"].append(here if leaf else offset + int(node["left"]))
            flat["right"].append(here if leaf else offset + int(node["right"]))
            flat["value"].append(float(node["value"]) if leaf else 0.0)
        depth = max(depth, int(nodes["depth"].max()))
    return {**flat, "roots": roots, "depth": depth, "baseline": float(model._baseline_prediction.ravel()[0]),
            "features": list(FEATURES)}


@dataclass(frozen=True)
class TreeEnsemble:
    """Exported trees (``export``), evaluated for many layers at once."""

    spec: dict

    @cached_property
    def _arrays(self):
        import numpy

        spec = self.spec
        # children[2 * node] is the right child, children[2 * node + 1] the left: one take per level
        children = numpy.stack([numpy.asarray(spec["right"], dtype=numpy.intp),
                                numpy.asarray(spec["left"], dtype=numpy.intp)], axis=1).ravel()
        return (numpy.asarray(spec["feature"], dtype=numpy.intp), numpy.asarray(spec["threshold"]), children,
                numpy.asarray(spec["value"]), numpy.asarray(spec["roots"], dtype=numpy.intp))

    def __call__(self, rows: list[list[float]]):
        """Each row's correction, log(profiled / linear time); zeros without trees. Equal rows (a stage's
        repeated blocks) are walked once."""
        import numpy

        if not self.spec or not rows:
            return numpy.zeros(len(rows))
        unique: dict[tuple, int] = {}
        which = [unique.setdefault(tuple(row), len(unique)) for row in rows]
        feature, threshold, children, value, roots = self._arrays
        data = numpy.asarray(list(unique), dtype=float)
        count, trees, width = len(data), len(roots), data.shape[1]
        node = numpy.tile(roots, count)  # one walker per (row, tree), row-major
        start = numpy.repeat(numpy.arange(count) * width, trees)  # each walker's row in the flat data
        flat = data.ravel()
        for _ in range(self.spec["depth"]):  # a leaf's children are itself: walkers that arrived stay
            left = flat.take(start + feature.take(node)) <= threshold.take(node)
            node = children.take(2 * node + left)
        return (self.spec["baseline"] + value.take(node).reshape(count, trees).sum(axis=1))[which]
