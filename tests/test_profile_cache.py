"""The app's profile cache is bounded in memory, not only in count: it is weighed by rows, and a spec that could
grow one profile past the block bound is refused before anything is counted."""
import core
import ui.engine
from core.network.scaling import DEPTH_RANGE
from tests.test_spec import _deep
from ui.engine import cached_profile


def test_the_profile_cache_stays_within_its_row_budget_when_filled_with_the_largest_profiles():
    arch = core.load_spec(_deep(42))  # the largest the block bound allows: 3,029 rows at depth 4
    widths = [round(0.1 + step * 0.01, 2) for step in range(ui.engine.PROFILE_ROWS // 3_029 + 10)]
    costs = [cached_profile(arch, width, DEPTH_RANGE[1], 32) for width in widths]
    assert {len(cost.rows) for cost in costs} == {3_029}
    held = sum(len(cost.rows) for cost in ui.engine._PROFILES.values())
    assert held == ui.engine._held_rows <= ui.engine.PROFILE_ROWS
    assert cached_profile(arch, widths[-1], DEPTH_RANGE[1], 32) is costs[-1]  # the newest are kept
    assert (arch, widths[0], DEPTH_RANGE[1], 32, 1, "float32", "classification", None, None, None) \
        not in ui.engine._PROFILES  # the oldest were let go
    assert cached_profile("mobilenet_v2", 1.0, 1.0, 224) is cached_profile("mobilenet_v2", 1.0, 1.0, 224)


def test_predictions_are_remembered_per_profile_and_calibration_and_refusals_are_not(tmp_path, monkeypatch):
    from core.prediction import latency_model
    from core.prediction.latency_model import NotCalibrated
    from tests.test_latency_model import CONFIGS, THREADS, synthetic_timing

    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    cost = cached_profile("resnet18", 0.75, 1.0, 128)
    try:
        ui.engine.cached_prediction(cost, "torch", "host", THREADS)
        raise AssertionError("predicted without a calibration")
    except NotCalibrated:
        pass
    from core.prediction.calibration import calibrate

    first = calibrate("torch", threads=THREADS, configs=CONFIGS, measure=synthetic_timing, force=True,
                      roofline=lambda threads: (1e11, 2e10))
    prediction = ui.engine.cached_prediction(cost, "torch", "host", THREADS)  # the refusal was not remembered
    assert ui.engine.cached_prediction(cost, "torch", "host", THREADS) is prediction
    assert prediction == latency_model.predict_from_profile(cost, "torch", "host", THREADS)
    again = calibrate("torch", threads=THREADS, configs=CONFIGS[:latency_model.MIN_NETWORKS], measure=synthetic_timing,
                      force=True, roofline=lambda threads: (2e11, 2e10))
    assert again is not first and ui.engine.cached_prediction(cost, "torch", "host", THREADS) is not prediction
    assert len(ui.engine._prediction.held) <= ui.engine.PREDICTIONS
