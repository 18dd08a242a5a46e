"""Loaded specs and per-stage networks on the measurement path: timing with torch and onnxruntime, the ONNX
cache, the host's speed, predictions with a calibration, and queued jobs run by a real worker."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import replace

import pytest

import core
from core.measurement import latency, onnx_runtime
from core.measurement.job_settings import BadSettings, check_job
from core.measurement.jobs import LatencyQueue, settings_key
from core.network.families import register
from tests.conftest import ROOT

SPEC = core.export_spec("mobilenet_v3_small")
ARCH = core.load_spec(SPEC)
STAGES = len(ARCH.stages)  # 9
WIDER = [1.0] * (STAGES - 2) + [1.5, 2.0]  # the last two stages widened
DEEPER = [1.0, 1.0, 2.0] + [1.0] * (STAGES - 3)
TINY = dict(resolution=64, threads=1, warmup=1, repeats=3)


@pytest.fixture
def no_speed_calibration(monkeypatch):
    """The host's speed as a constant: the tests time the networks asked for, not the family stand-ins."""
    monkeypatch.setattr(latency, "host_speed", lambda *args, **kwargs: latency.HostSpeed(1e12, 1e9))


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_a_loaded_spec_is_timed_under_its_own_name(runtime, no_speed_calibration):
    result = core.measure_latency(ARCH, runtime=runtime, **TINY)
    assert result.backbone == ARCH.name and result.runtime == runtime
    assert result.runs == 3 and result.median_ms > 0 and result.stage_width is None
    assert json.dumps(result.as_dict())  # a job's result is stored as JSON


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_a_per_stage_network_is_timed_with_its_multipliers(runtime, no_speed_calibration):
    for backbone in ("mobilenet_v3_small", ARCH):  # on a built-in and on a spec
        cost = core.profile(backbone, resolution=64, stage_width=WIDER, stage_depth=DEEPER)
        result = core.measure_latency(backbone, runtime=runtime, stage_width=WIDER, stage_depth=DEEPER, **TINY)
        assert result.backbone == cost.backbone and "-stages-" in result.backbone
        assert result.stage_width == tuple(WIDER) and result.stage_depth == tuple(DEEPER)
        assert result.runs == 3


def test_a_per_stage_network_is_refused_for_a_dense_task(no_speed_calibration):
    with pytest.raises(core.ScalingError, match="built-in backbones at uniform scaling"):
        stages = len(core.ARCHITECTURES["mobilenet_v3_large"].stages)
        core.measure_latency("mobilenet_v3_large", task="segmentation", stage_width=[1.5] + [1.0] * (stages - 1),
                             **TINY)


def test_the_onnx_cache_keys_the_exact_network():
    built_in = core.profile("mobilenet_v3_small", resolution=64)
    loaded = core.profile(ARCH, resolution=64)
    retitled = core.profile(core.load_spec({**SPEC, "title": "Another title"}), resolution=64)
    staged = core.profile("mobilenet_v3_small", resolution=64, stage_width=WIDER)
    spec_staged = core.profile(ARCH, resolution=64, stage_width=WIDER)
    keys = [onnx_runtime.cache_key(cost, "float32") for cost in (built_in, loaded, staged, spec_staged)]
    assert len(set(keys)) == 4
    assert onnx_runtime.cache_key(retitled, "float32") == keys[1]  # a title is not the network
    # another architecture registered under a name met before (another process's) never finds its file
    impostor = register(replace(ARCH, name="test-impostor-stages-0", stages=ARCH.stages[:-1]))
    first = onnx_runtime.cache_key(core.profile(impostor, resolution=64), "float32")
    register(replace(ARCH, name="test-impostor-stages-0"))
    assert onnx_runtime.cache_key(core.profile("test-impostor-stages-0", resolution=64), "float32") != first


def test_a_custom_networks_host_speed_is_a_built_in_familys(monkeypatch):
    assert latency.speed_base("mobilenet_v3_small") == "mobilenet_v3_small"
    assert latency.speed_base(core.profile("efficientnet_b3", stage_depth=[1.5] * 7).base) == "efficientnet_b0"
    assert latency.speed_base(ARCH.name) == "mobilenet_v2"  # inverted residuals
    resnet = core.load_spec(core.export_spec("resnet18"))
    assert latency.speed_base(core.profile(resnet, stage_width=[2, 1, 1, 1]).base) == "resnet18"
    assert latency.speed_base("custom-000000000000") == "mobilenet_v2"  # not registered here: any family
    calibrated = []
    monkeypatch.setattr(latency, "_SPEEDS", {})
    monkeypatch.setattr(latency, "_calibrate",
                        lambda base, *args: calibrated.append(base) or latency.HostSpeed(1e12, 1e9))
    core.measure_latency(ARCH, **TINY)
    core.measure_latency(ARCH, stage_width=WIDER, **TINY)
    assert calibrated == ["mobilenet_v2"]  # once, on the stand-in: never on the custom network itself
    assert latency._SPEEDS[("mobilenet_v2", "cpu", "float32", 1, "torch")].macs_per_s == 1e12  # not raised by it


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """A synthetic calibration (no network timed), in a store of its own."""
    from core.prediction.calibration import calibrate
    from tests.test_latency_model import CONFIGS, THREADS, synthetic_timing

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CSL_DATA_DIR", str(tmp_path_factory.mktemp("calibration")))
        yield calibrate("torch", threads=THREADS, configs=CONFIGS, measure=synthetic_timing, force=True,
                        roofline=lambda threads: (1e11, 2e10)), THREADS


def test_a_spec_and_a_per_stage_network_are_predicted_with_a_calibration(calibration):
    from core.measurement.run_budget import predicted_forward_s
    from core.prediction.latency_model import predict_from_profile

    fit, threads = calibration
    loaded = core.predict_latency(ARCH, resolution=64, threads=threads)
    assert loaded.method == "calibrated model" and loaded.backbone == ARCH.name and loaded.total_ms > 0
    assert "no family factor" in loaded.basis
    same = predict_from_profile(core.profile(ARCH, resolution=64), threads=threads)
    assert same.total_ms == pytest.approx(loaded.total_ms)
    staged = core.predict_latency("mobilenet_v2", resolution=64, threads=threads, stage_width=[1.5] * 7)
    plain = core.predict_latency("mobilenet_v2", resolution=64, threads=threads)
    assert staged.backbone.startswith("mobilenet_v2-stages-") and staged.total_ms > plain.total_ms
    factor = fit.family_factors.get("mobilenet_v2", 1.0)
    assert f"times {factor:.2f} for this family's own fit" in staged.basis  # its built-in's factor
    assert predicted_forward_s(core.profile(ARCH, resolution=64, stage_depth=DEEPER), "torch", "float32",
                               threads) > 0
    bound = core.predict_latency(ARCH, resolution=64, device="raspberry_pi_4")
    assert bound.method == "roofline lower bound" and bound.total_ms > 0


def test_a_job_with_a_spec_is_checked():
    settings = dict(backbone=ARCH.name, spec=SPEC, resolution=64, stage_width=WIDER)
    assert check_job(settings)["spec"] == SPEC
    assert check_job(dict(settings, task="ptflops"))["backbone"] == ARCH.name
    assert check_job(dict(backbone="mobilenet_v2", stage_depth=[1, 1, 2, 2, 1, 1, 1]))
    refused = [
        (dict(settings, backbone="mobilenet_v3_small"), "backbone 'mobilenet_v3_small' is not the spec's name"),
        (dict(settings, spec={**SPEC, "bogus": 1}), "spec: unknown field 'bogus'"),
        (dict(settings, spec={**SPEC, "stages": [SPEC["stages"][0]] * 1_000_000}), "spec: stages holds too many values"),
        (dict(settings, spec={**SPEC, "title": "x" * 10_000_000}), "spec: title is 10,000,000 characters long"),
        (dict(settings, spec="{}"), "spec must be a JSON object"),
        (dict(settings, spec=None), f"unknown backbone '{ARCH.name}': a custom network's job carries its spec"),
        (dict(settings, stage_width=[1, 2]), "stage_width has 2 values; MobileNet V3 Small has 9 stages"),
        (dict(settings, stage_width=[9] * STAGES), "stage_width of stage 1 is 9: use 0.25 to 3"),
        (dict(settings, stage_depth="1,2"), "stage_depth must be a list of numbers"),
        (dict(settings, task="segmentation"), "segmentation is built only on the built-in backbones"),
    ]
    for row, message in refused:
        with pytest.raises(BadSettings) as error:
            check_job(row)
        assert str(error.value).startswith(message) and "\n" not in str(error.value), str(error.value)[:200]


def test_one_key_per_exact_network():
    settings = dict(backbone=ARCH.name, spec=SPEC, resolution=64)
    key = settings_key(settings)
    assert settings_key(dict(settings, spec={**SPEC, "title": "Mine"})) == key  # the name is the spec's digest
    assert settings_key(dict(settings, stage_width=[1] * STAGES)) == key  # all ones: the network itself
    assert settings_key(dict(settings, stage_width=None)) == key
    wider = settings_key(dict(settings, stage_width=WIDER))
    assert wider != key and settings_key(dict(settings, stage_width=[int(v) if v == 1 else v for v in WIDER])) == wider
    assert settings_key(dict(settings, stage_depth=WIDER)) != wider
    assert settings_key(dict(settings, backbone="mobilenet_v3_small", spec=None)) != key


@contextmanager
def private_worker(data):
    """A real worker on a store of its own, with its own CSL_DATA_DIR (its ONNX cache too)."""
    env = {**os.environ, "CSL_DATA_DIR": str(data), "CSL_WORKER_IDLE_EXIT_S": "120"}
    process = subprocess.Popen([sys.executable, "-m", "core.measurement.worker", "--db", str(data / "latency.sqlite3")],
                               cwd=ROOT, env=env, stderr=open(data / "worker.err", "ab"))
    try:
        yield process
    finally:
        process.terminate()
        process.wait(15)


def finished(queue, job, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = queue.state(job)
        if not state.active:
            return state
        time.sleep(0.2)
    pytest.fail(f"job {job} still {queue.state(job)} after {timeout} s")


def raw_row(queue, text: str) -> int:
    """A row written straight into the store, as a hostile writer would."""
    with sqlite3.connect(queue.path) as db:
        return db.execute("INSERT INTO jobs (key, settings, status, created) VALUES (?, ?, 'queued', ?)",
                          (f"hostile-{time.time()}", text, time.time())).lastrowid


def test_the_worker_runs_a_spec_job_and_fails_hostile_ones_one_line_each(tmp_path):
    queue = LatencyQueue(tmp_path / "latency.sqlite3")
    job = dict(backbone=ARCH.name, spec=SPEC, device="cpu", batch=1, dtype="float32", **TINY)
    staged = dict(job, stage_width=WIDER, runtime="onnxruntime")
    with pytest.raises(BadSettings, match="spec: unknown field 'bogus'"):  # a page's submit is checked too
        queue.submit(dict(job, spec={**SPEC, "bogus": 1}), "alice")
    first = queue.submit(job, "alice")
    second = queue.submit(staged, "alice")
    hostile = [(raw_row(queue, json.dumps(row)), message) for row, message in (
        (dict(job, spec={**SPEC, "bogus": 1}), "not run: spec: unknown field 'bogus'"),
        (dict(job, spec={**SPEC, "title": "x" * 10_000_000}), "not run: spec: title is 10,000,000 characters long"),
        (dict(job, backbone="mobilenet_v2"), "not run: backbone 'mobilenet_v2' is not the spec's name"),
        (dict(job, stage_depth=[0.1] * STAGES), "not run: stage_depth of stage 1 is 0.1"),
    )]
    hostile.append((raw_row(queue, '{"spec": ' + "[" * 100_000 + "]" * 100_000 + "}"),
                    "not run: a job's settings must be a JSON object"))
    after = queue.submit(dict(job, resolution=96), "bob")
    with private_worker(tmp_path) as worker:
        done = finished(queue, first.id)
        assert done.status == "done", done.error
        assert done.result["backbone"] == ARCH.name and done.result["runs"] == 3
        done = finished(queue, second.id)
        assert done.status == "done", done.error
        assert done.result["backbone"] == core.profile(ARCH, stage_width=WIDER).backbone
        assert done.result["stage_width"] == WIDER and done.result["runtime"] == "onnxruntime"
        for row, message in hostile:
            state = finished(queue, row)
            assert state.status == "failed" and state.error.startswith(message), state.error[:200]
            assert "\n" not in state.error and len(state.error) < 400
        assert finished(queue, after.id).status == "done"
        assert worker.poll() is None  # the queue goes on
    assert queue.find(job).status == "done" and queue.find(dict(job, spec={**SPEC, "title": "Mine"})).id == first.id
