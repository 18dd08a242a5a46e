"""The latency model: calibration (with an injected measuring function), its cache, predictions, CLI, link."""
import json
import subprocess
import sys

import pytest

import core
from core.cli import main
from core.measurement.kernel_timing import KernelTiming
from core.prediction import calibration, kernel_trees, latency_model
from core.prediction.latency_model import (
    KINDS,
    Config,
    NotCalibrated,
    dispatched_ops,
    kernel_kind,
    predict_latency,
)
from core.prediction.calibration import calibrate
from core.prediction.roofline import host_lanes
from tests.conftest import ROOT
from ui.state import ExplorerState, parse_query

# A synthetic host: per kernel kind (seconds per padded MAC, per byte, per call), and the network terms
TRUE_KERNELS = {"conv_kxk": (5e-11, 1e-11, 4e-6), "conv_1x1": (3.5e-11, 1.2e-11, 3e-6), "dwconv": (2e-10, 2e-11, 5e-6),
                "se": (5e-10, 0.0, 8e-6), "linear": (3e-11, 1e-11, 2e-6), "elementwise": (0.0, 3e-11, 6e-6),
                "resample": (0.0, 2e-11, 7e-6),
                # onnxruntime float32's convolutions outside its channel-blocked layout: slower per MAC
                "conv_kxk_unblocked": (2.5e-10, 1.5e-11, 9e-6), "conv_1x1_unblocked": (1.5e-10, 1.1e-11, 8e-6),
                "dwconv_unblocked": (6e-10, 3e-11, 7e-6)}
TRUE_NETWORK = (0.8, 1e-6)  # the profiler inflates kernels by 1 / 0.8; plus 1 us per dispatched operator
CONFIGS = [Config(backbone, width, depth, resolution, batch)
           for backbone in latency_model.BACKBONES
           for width, depth, resolution, batch in ((0.35, 0.6, 64, 1), (1.0, 1.0, 96, 8), (0.75, 1.5, 64, 8))]
THREADS = 3  # no real calibration on this machine uses it


def synthetic_timing(config, runtime, dtype, threads, outliers=()) -> KernelTiming:
    """A host that follows the model exactly (plus chosen outliers): what a fit must recover."""
    cost = core.profile(config.backbone, config.width, config.depth, config.resolution, batch=config.batch,
                        dtype=dtype)
    lanes = host_lanes()[dtype]  # what the calibration and the prediction pad to on this CPU
    block = latency_model.blocked_layout(runtime, dtype)
    rows = {row[0]: 1000 * sum(value * rate for value, rate in zip(
        latency_model.kernel_terms(row, cost.batch, core.network.counting.DTYPE_BYTES[dtype], lanes, block),
        TRUE_KERNELS[kernel_kind(row, block)])) for row in cost.rows}
    total = TRUE_NETWORK[0] * sum(rows.values()) + 1000 * TRUE_NETWORK[1] * sum(map(dispatched_ops, cost.rows))
    return KernelTiming(total * (3.0 if config in outliers else 1.0), rows, other_load=0.0)


def synthetic_ms(config, runtime="torch", dtype="float32", threads=THREADS) -> float:
    return synthetic_timing(config, runtime, dtype, threads).total_ms


@pytest.fixture(scope="module")
def calibrated():
    """One synthetic calibration for the module: no network is built or timed."""
    calls = []

    def measure(config, runtime, dtype, threads):
        calls.append(config)
        burst = config == CONFIGS[4] and calls.count(config) == 1  # a busy moment: the second round is clean
        return synthetic_timing(config, runtime, dtype, threads, outliers=CONFIGS[7:8] + CONFIGS[4:5] * burst)

    result = calibrate("torch", threads=THREADS, configs=CONFIGS, measure=measure, force=True, rounds=2,
                       roofline=lambda threads: (1e11, 2e10))
    return result, calls


def test_calibration_recovers_the_coefficients_and_leaves_out_an_outlier(calibrated):
    result, calls = calibrated
    assert len(calls) == 2 * len(CONFIGS)  # two rounds, each configuration's fastest kept
    for kind in KINDS:  # torch never runs an unblocked kind: nothing to fit, nothing predicted with it
        true = (0.0,) * 3 if kind.endswith("_unblocked") else TRUE_KERNELS[kind]
        for term, value in zip(latency_model.TERMS, true):
            assert result.coefficients[f"{kind}.{term}"] == pytest.approx(value, rel=1e-3, abs=1e-15), (kind, term)
    assert result.network == pytest.approx(TRUE_NETWORK, rel=1e-3)
    assert result.kernel_samples == sum(len(core.profile(c.backbone, c.width, c.depth, c.resolution).rows)
                                        for c in CONFIGS)
    assert [sample["used"] for sample in result.samples].count(False) == 1
    assert result.samples[4]["used"] and not result.samples[7]["used"] and result.fit_error < 1e-6
    assert (result.peak_flops, result.bandwidth) == (1e11, 2e10)


def test_calibration_is_cached_on_disk_and_a_changed_key_calibrates_again(calibrated, monkeypatch):
    result, _ = calibrated
    calls = []

    def measure(*args):
        calls.append(args)
        return synthetic_timing(*args)

    again = calibrate("torch", threads=THREADS, configs=CONFIGS, measure=measure, roofline=lambda threads: (1, 1))
    assert calls == [] and again.coefficients == result.coefficients  # from the cache
    stored = list((latency_model.data_dir() / "latency_model").glob(f"torch-float32-t{THREADS}-*.json"))
    assert len(stored) == 1 and json.loads(stored[0].read_text())["key"]["host"] == result.key["host"]
    monkeypatch.setattr(latency_model, "library_versions", lambda runtime: {"torch": "99.0"})
    with pytest.raises(NotCalibrated):
        predict_latency("mobilenet_v2", threads=THREADS)
    calibrate("torch", threads=THREADS, configs=CONFIGS, measure=measure, rounds=1,
              roofline=lambda threads: (1e11, 2e10))
    assert len(calls) == len(CONFIGS)
    monkeypatch.setattr(latency_model, "host_fingerprint", lambda: "another-host|cpu|64")
    calibrate("torch", threads=THREADS, configs=CONFIGS[:latency_model.MIN_NETWORKS], measure=measure, rounds=1,
              roofline=lambda threads: (1e11, 2e10))
    assert len(calls) == len(CONFIGS) + latency_model.MIN_NETWORKS


def test_prediction_matches_the_model_layer_by_layer(calibrated):
    prediction = predict_latency("efficientnet_b0", 0.6, 1.2, 112, batch=8, threads=THREADS)
    cost = core.profile("efficientnet_b0", 0.6, 1.2, 112, batch=8)
    assert prediction.method == "calibrated model" and prediction.device == "host"
    assert list(prediction.layers.name) == list(cost.layers.name)
    assert set(prediction.layers.bound) <= {"compute", "memory"}
    assert prediction.layers.time_ms.sum() == pytest.approx(prediction.total_ms)
    expected = synthetic_ms(Config("efficientnet_b0", 0.6, 1.2, 112, 8), "torch", "float32", THREADS)
    assert prediction.total_ms == pytest.approx(expected, rel=1e-3)
    assert prediction.total_ms > prediction.bound_ms  # the model is never below the host's roofline here
    assert 0 < prediction.lane_waste < 0.2


def test_prediction_needs_no_torch_and_no_weights(calibrated):
    """The page's path: the analytic profile and the cached calibration only."""
    code = ("import sys; from core.prediction.latency_model import predict_latency; "
            f"p = predict_latency('resnet50', 0.5, 1.0, 128, threads={THREADS}, device='host'); "
            "assert p.total_ms > 0 and 'torch' not in sys.modules, sorted(sys.modules)")
    env = {"CSL_DATA_DIR": str(latency_model.data_dir()), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def test_uncalibrated_runtime_says_how_to_calibrate():
    with pytest.raises(NotCalibrated, match="python -m core calibrate --runtime onnxruntime --dtype float32 "
                                            "--threads 5"):
        predict_latency("mobilenet_v2", runtime="onnxruntime", threads=5)


def test_cli_predict_on_the_host_and_on_a_device(calibrated, capsys):
    assert main(["predict", "mobilenet_v2", "--width", "0.5", "--resolution", "128", "--batch", "8",
                 "--threads", str(THREADS), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["method"] == "calibrated model" and result["batch"] == 8
    assert len(result["layers"]) == len(core.profile("mobilenet_v2", 0.5).rows)
    assert main(["predict", "resnet18", "--device", "a100_sxm", "--dtype", "float16", "--no-layers"]) == 0
    out = capsys.readouterr().out
    assert "roofline lower bound" in out and "per batch" in out


@pytest.mark.parametrize("argv,message", [
    (["--device", "toaster"], "invalid choice: 'toaster' (choose from 'host', 'phone_cortex_a78'"),
    (["--runtime", "tvm"], "invalid choice: 'tvm' (choose from 'torch', 'onnxruntime')"),
    (["--dtype", "float64"], "invalid choice: 'float64' (choose from 'float32', 'float16', 'bfloat16', 'int8')"),
    (["--batch", "0"], "0 is out of range: use 1 to 1,024"),
    (["--width", "9"], "use 0.1 to 3.0"),
    (["--threads", "5"], "not calibrated yet for torch, float32, 5 thread(s)"),
    (["--device", "raspberry_pi_4", "--dtype", "int8"], "has no peak figure for int8: use one of float32"),
])
def test_cli_predict_bad_values_exit_2_with_one_line(argv, message, capsys):
    assert main(["predict", "mobilenet_v2", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_prediction_target_round_trips_through_the_share_link():
    state = ExplorerState(target="raspberry_pi_4", device="cpu")
    assert state.to_query()["target"] == "raspberry_pi_4"
    assert parse_query(state.to_query()) == (state, [])
    parsed, warnings = parse_query({"target": "<img src=x>"})
    assert parsed.target == "host"
    assert warnings == ["The link's target=`<img src=x>` is not one of host, phone_cortex_a78, raspberry_pi_4, "
                        "jetson_orin_nano, a100_sxm; using host."]


def _explorer(query: dict):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.query_params.update(query)
    app.run()
    assert not app.exception, [exception.value for exception in app.exception]
    return app, {metric.label: metric.value for metric in app.metric}


def test_explorer_shows_the_prediction_and_moves_it_with_the_sliders(calibrated):
    app, metrics = _explorer({"backbone": "mobilenet_v2", "threads": str(THREADS)})
    expected = predict_latency("mobilenet_v2", threads=THREADS).total_ms
    assert metrics["Latency (predicted)"] == core.units.duration_ms(expected)
    assert app.button(key="prediction_measure")  # nothing measured yet: offer to
    app.slider(key="explorer_width").set_value(0.5).run()
    moved = {metric.label: metric.value for metric in app.metric}["Latency (predicted)"]
    assert moved == core.units.duration_ms(predict_latency("mobilenet_v2", 0.5, threads=THREADS).total_ms)


def test_explorer_roofline_on_another_device_and_without_a_calibration(calibrated):
    app, metrics = _explorer({"backbone": "mobilenet_v2", "target": "raspberry_pi_4", "view": "latency"})
    assert metrics["Latency bound (roofline)"].startswith(">= ")
    assert "lower bounds, not measurements" in json.dumps([chart.proto.spec for chart in app.get("plotly_chart")])
    app, metrics = _explorer({"backbone": "resnet18", "threads": "7"})
    assert metrics["Latency (predicted)"] == "not calibrated"
    assert any("python -m core calibrate --runtime torch --dtype float32 --threads 7" in caption.value
               for caption in app.caption)


def test_explorer_latency_view_on_this_host_draws_roofline_alignment_and_staircase(calibrated):
    app, _ = _explorer({"backbone": "mobilenet_v3_small", "threads": str(THREADS), "view": "latency"})
    specs = json.dumps([chart.proto.spec for chart in app.get("plotly_chart")])
    assert "Roofline, this host (measured)" in specs and "Latency over width on this host" in specs
    assert any("pad channels to a multiple of" in caption.value for caption in app.caption)


def _blocked_at(block: int, monkeypatch) -> None:
    """This CPU's onnxruntime float32 blocks ``block`` channels, whatever CPU runs the test."""
    def blocked_layout(runtime, dtype):
        return block if (runtime, dtype) == ("onnxruntime", "float32") else None

    monkeypatch.setattr(latency_model, "blocked_layout", blocked_layout)
    monkeypatch.setattr(calibration, "blocked_layout", blocked_layout)


def test_onnxruntime_runs_convolutions_its_block_does_not_divide_as_their_own_kind(monkeypatch):
    """onnxruntime's NCHWc rule: a dense conv is blocked when the block divides its input channels (or
    they are fewer), a depthwise one when it divides its channels; torch has no such rule."""
    _blocked_at(16, monkeypatch)

    def kinds(backbone, width, runtime="onnxruntime"):
        block = latency_model.blocked_layout(runtime, "float32")
        return {row[0]: kernel_kind(row, block) for row in core.profile(backbone, width).rows}

    aligned = kinds("resnet18", 0.5)  # 32, 64, 128, 256 channels
    assert not any(kind.endswith("_unblocked") for kind in aligned.values())
    unaligned = kinds("resnet18", 0.6)  # 40, 80, 152, 304: 40 and 152 are not multiples of 16
    assert unaligned["stem"] == "conv_kxk"  # 3 input channels: fewer than a block
    assert unaligned["stages.0.0.conv1"] == "conv_kxk_unblocked"  # 40 in
    assert unaligned["stages.1.0.conv1"] == "conv_kxk_unblocked"  # 40 in
    assert unaligned["stages.1.0.conv2"] == "conv_kxk"  # 80 in
    assert unaligned["stages.1.0.downsample"] == "conv_1x1_unblocked"  # 40 in
    depthwise = {name: kind for name, kind in kinds("mobilenet_v2", 1.0).items() if "dwconv" in kind}
    rows = {row[0]: row for row in core.profile("mobilenet_v2").rows}
    assert depthwise and all((kind == "dwconv") == (rows[name][4] % 16 == 0) for name, kind in depthwise.items())
    assert not any(kind.endswith("_unblocked") for kind in kinds("resnet18", 0.6, "torch").values())
    assert latency_model.calibration_key("onnxruntime", "float32", 2)["blocked_layout"] == 16
    assert "blocked_layout" not in latency_model.calibration_key("torch", "float32", 2)


def test_an_onnxruntime_calibration_fits_the_unblocked_kinds_and_predicts_with_them(tmp_path, monkeypatch):
    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    _blocked_at(16, monkeypatch)
    result = calibrate("onnxruntime", threads=THREADS, configs=CONFIGS, measure=synthetic_timing, force=True,
                       roofline=lambda threads: (1e11, 2e10))
    for kind in ("conv_kxk_unblocked", "conv_1x1_unblocked", "dwconv_unblocked", "conv_kxk"):
        for term, value in zip(latency_model.TERMS, TRUE_KERNELS[kind]):
            assert result.coefficients[f"{kind}.{term}"] == pytest.approx(value, rel=1e-3, abs=1e-15), (kind, term)
    for width in (0.5, 0.6):  # all channels aligned; several not
        expected = synthetic_ms(Config("resnet18", width, 1.0, 112, 1), "onnxruntime", "float32", THREADS)
        predicted = predict_latency("resnet18", width, 1.0, 112, runtime="onnxruntime", threads=THREADS).total_ms
        assert predicted == pytest.approx(expected, rel=1e-3)


def test_the_trees_learn_what_the_linear_kernels_miss(tmp_path, monkeypatch):
    """A host whose dense convolutions on small maps (8 px or less) run 1.6x slower than their MACs say:
    no linear term sees a map's size, the tree corrections do, and a held-out network is predicted from them."""
    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))

    def slow_small_maps(config, runtime, dtype, threads):
        timing = synthetic_timing(config, runtime, dtype, threads)
        cost = core.profile(config.backbone, config.width, config.depth, config.resolution, batch=config.batch)
        rows = {row[0]: timing.rows[row[0]] * (1.6 if kernel_kind(row) == "conv_kxk" and row[8] <= 8 else 1.0)
                for row in cost.rows}
        total = TRUE_NETWORK[0] * sum(rows.values()) + 1000 * TRUE_NETWORK[1] * sum(map(dispatched_ops, cost.rows))
        return KernelTiming(total, rows, other_load=0.0)

    configs = calibration.calibration_configs()
    result = calibrate("torch", threads=THREADS, configs=configs, measure=slow_small_maps, force=True,
                       roofline=lambda threads: (1e11, 2e10))
    assert result.corrections["features"] == list(kernel_trees.FEATURES)
    held_out = Config("resnet34", 0.6, 1.2, 112, 1)  # widths, depths and resolutions no calibration used
    truth = slow_small_maps(held_out, "torch", "float32", THREADS)
    prediction = predict_latency("resnet34", 0.6, 1.2, 112, threads=THREADS)
    assert prediction.total_ms == pytest.approx(truth.total_ms, rel=0.03)
    cost = core.profile("resnet34", 0.6, 1.2, 112)
    for row, predicted in zip(cost.rows, prediction.layers.time_ms):  # layer by layer, small maps included
        if kernel_kind(row) == "conv_kxk":
            true = TRUE_NETWORK[0] * truth.rows[row[0]] + 1000 * TRUE_NETWORK[1] * dispatched_ops(row)
            assert predicted == pytest.approx(true, rel=0.08), (row[0], row[8])


def test_calibration_configurations_cover_every_backbone_early_and_avoid_the_bench_values():
    configs = calibration.calibration_configs()
    assert len(configs) == 48 and {config.batch for config in configs} == {1, 8}
    assert {config.backbone for config in configs[:16]} == set(latency_model.BACKBONES)  # a budget cut still covers all
    assert all(config.width in latency_model.CALIBRATION_WIDTHS and config.depth in latency_model.CALIBRATION_DEPTHS
               and config.resolution in latency_model.CALIBRATION_RESOLUTIONS for config in configs)


def test_family_factor_corrects_a_family_the_kinds_misjudge(tmp_path, monkeypatch):
    """A family that runs slower than its layer kinds predict gets its own factor from the calibration."""
    from core.prediction import latency_model

    samples = [dict(config=dict(backbone=name, width=1.0, depth=1.0, resolution=96, batch=1), measured_ms=ms,
                    fitted_ms=10.0, used=True)
               for name, ms in (("mobilenet_v1", 15.0), ("mobilenet_v1", 14.0), ("mobilenet_v1", 16.0),
                                ("resnet18", 10.0), ("resnet18", 10.4), ("mobilenet_v2", 30.0))]
    factors = latency_model.family_factors(samples)
    assert factors["mobilenet_v1"] == pytest.approx(1.5) and factors["resnet18"] == pytest.approx(1.02)
    assert "mobilenet_v2" not in factors  # one timing is not a family's fit


def test_the_host_peak_and_bandwidth_are_the_same_whatever_the_runtime(tmp_path, monkeypatch):
    """Measured once per host, not per runtime's calibration."""
    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    measured = []
    monkeypatch.setattr(calibration, "measure_host_roofline",
                        lambda threads: measured.append(threads) or (2.5e11, 3.5e10))
    torch_fit = calibrate("torch", threads=THREADS, configs=CONFIGS, measure=synthetic_timing, force=True)
    onnx_fit = calibrate("onnxruntime", "int8", threads=THREADS, configs=CONFIGS, measure=synthetic_timing,
                         force=True)
    assert measured == [THREADS]
    assert (torch_fit.peak_flops, torch_fit.bandwidth) == (onnx_fit.peak_flops, onnx_fit.bandwidth) == (2.5e11, 3.5e10)


def test_a_timing_on_a_busy_host_is_made_again_while_the_budget_lasts(tmp_path, monkeypatch):
    """Other processes using the cores: the network is timed again (at most RETRIES times), the quietest kept."""
    from dataclasses import replace

    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    calls, seen = [], set()

    def busy_first(config, runtime, dtype, threads):
        calls.append(config)
        timing = synthetic_timing(config, runtime, dtype, threads)
        first = config not in seen
        seen.add(config)
        return replace(timing, total_ms=timing.total_ms * (5 if first else 1), other_load=1.5 if first else 0.1)

    fit = calibrate("torch", threads=THREADS, configs=CONFIGS[:10], measure=busy_first, force=True,
                    roofline=lambda threads: (1e11, 2e10))
    assert len(calls) == 20 and all(sample["other_load"] == 0.1 for sample in fit.samples)
    assert fit.fit_error < 1e-6
    calls.clear()
    seen.clear()
    calibrate("torch", threads=THREADS, configs=CONFIGS[:10], measure=busy_first, force=True, budget_s=0,
              roofline=lambda threads: (1e11, 2e10))
    assert len(calls) == latency_model.MIN_NETWORKS  # the budget is spent: the fewest networks, none again
