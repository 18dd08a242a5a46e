"""The latency model's tree corrections: fitted with scikit-learn, stored as arrays, evaluated with numpy."""
import json
import math
import subprocess
import sys

import numpy
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

import core
from core.prediction import kernel_trees
from core.prediction.kernel_trees import FEATURES, TreeEnsemble, export
from core.prediction.latency_model import layer_features
from tests.conftest import ROOT


def _layers() -> list[list[float]]:
    """Every layer of a few real networks, as the calibration sees them."""
    rows = []
    for backbone, width in (("mobilenet_v2", 0.75), ("resnet18", 0.6), ("efficientnet_b0", 1.3),
                            ("mobilenet_v3_small", 1.0)):
        for batch in (1, 8):
            rows += layer_features(core.profile(backbone, width, 1.0, 128, batch=batch), 16, 16)
    return rows


def test_the_exported_trees_agree_with_scikit_learn_and_survive_json():
    rows = _layers()
    assert len(rows[0]) == len(FEATURES)
    rng = numpy.random.default_rng(0)
    target = [0.3 * row[3] - 0.2 * row[9] + 0.1 * math.sin(row[1]) + rng.normal(0, 0.05) for row in rows]
    model = HistGradientBoostingRegressor(max_iter=kernel_trees.TREES, max_leaf_nodes=kernel_trees.LEAVES,
                                          learning_rate=kernel_trees.LEARNING_RATE, early_stopping=False,
                                          random_state=0).fit(numpy.asarray(rows), target)
    spec = json.loads(json.dumps(export(model)))  # what a calibration file holds
    ours = TreeEnsemble(spec)(rows)
    assert ours == pytest.approx(model.predict(numpy.asarray(rows)), abs=1e-9)
    assert len(spec["roots"]) == kernel_trees.TREES and spec["features"] == list(FEATURES)


def test_fit_needs_enough_layers_and_corrects_nothing_without_trees():
    rows = _layers()
    assert kernel_trees.fit(rows[:kernel_trees.MIN_LAYERS - 1], [0.1] * (kernel_trees.MIN_LAYERS - 1)) == {}
    assert list(TreeEnsemble({})(rows[:3])) == [0.0, 0.0, 0.0]
    flat = kernel_trees.fit(rows, [0.0] * len(rows))  # kernels that follow the linear model: no correction
    assert numpy.abs(TreeEnsemble(flat)(rows)).max() < 1e-12


def test_the_web_server_evaluates_trees_without_scikit_learn():
    code = ("import sys; from core.prediction.kernel_trees import TreeEnsemble; "
            "spec = {'feature': [0, 0, 0], 'threshold': [0.5, 0, 0], 'left': [1, 1, 2], 'right': [2, 1, 2], "
            "'value': [0, -1.0, 2.0], 'roots': [0], 'depth': 1, 'baseline': 0.5}; "
            "assert list(TreeEnsemble(spec)([[0.0], [1.0], [0.0]])) == [-0.5, 2.5, -0.5]; "
            "assert 'sklearn' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
