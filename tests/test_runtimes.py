"""Runtimes: onnxruntime fp32 and int8 through measure_latency, the bounded file cache, refusals, store keys."""
import os
import time

import onnxruntime
import pytest
import torch

from core.measurement import jobs, onnx_runtime
from core.measurement.latency import LatencyError, LatencyResult, measure_latency

SMALL = dict(backbone="mobilenet_v2", width=0.35, depth=1.0, resolution=96, warmup=1, repeats=3, threads=1)


@pytest.fixture(scope="module")
def onnx_results() -> dict[str, LatencyResult]:
    """fp32 and int8 of one small configuration (the files land in the suite's throwaway CSL_DATA_DIR)."""
    return {dtype: measure_latency(runtime="onnxruntime", dtype=dtype, **SMALL) for dtype in ("float32", "int8")}


def test_int8_file_is_about_four_times_smaller_than_fp32(onnx_results):
    fp32, int8 = onnx_results["float32"], onnx_results["int8"]
    assert fp32.model_file_bytes == fp32.fp32_file_bytes == int8.fp32_file_bytes
    assert 3 < fp32.model_file_bytes / int8.model_file_bytes < 5
    assert int8.quantize_s > 0 and fp32.quantize_s == 0 and fp32.export_s > 0


def test_onnxruntime_results_come_through_the_same_api(onnx_results):
    torch_fields = LatencyResult.__dataclass_fields__
    for dtype, result in onnx_results.items():
        assert isinstance(result, LatencyResult) and result.as_dict().keys() == torch_fields.keys()
        assert (result.runtime, result.dtype, result.runs, result.threads) == ("onnxruntime", dtype, 3, 1)
        assert 0 < result.p10_ms <= result.median_ms <= result.p90_ms
        assert result.onnxruntime_version == onnxruntime.__version__
    assert "accuracy after quantization needs trained weights" in onnx_results["int8"].note.lower()
    assert onnx_results["float32"].note is None


def test_a_second_run_reuses_the_cached_files(onnx_results):
    first = onnx_results["int8"]
    again = measure_latency(runtime="onnxruntime", dtype="int8", **SMALL)
    assert again.prepared_cached
    assert (again.model_file_bytes, again.export_s, again.quantize_s) == (
        first.model_file_bytes, first.export_s, first.quantize_s)  # the times recorded when the files were made


def test_the_cache_drops_least_recently_used_files_past_its_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("CSL_DATA_DIR", str(tmp_path))
    folder = onnx_runtime.cache_dir()
    for age, name in enumerate(("newest", "middle", "oldest")):
        (folder / f"{name}.onnx").write_bytes(b"x" * 1000)
        (folder / f"{name}.json").write_text("{}")
        os.utime(folder / f"{name}.onnx", (time.time() - 60 * age,) * 2)
    stale = folder / "dead.onnx.tmp-1"
    stale.write_bytes(b"partial export of a killed run")
    os.utime(stale, (time.time() - 2 * onnx_runtime.STALE_TEMP_S,) * 2)
    removed = onnx_runtime.evict(keep={folder / "oldest.onnx"}, limit=2000)
    assert [path.stem for path in removed] == ["middle"]  # the oldest is in use; the newest fits
    assert sorted(path.name for path in folder.iterdir()) == ["newest.json", "newest.onnx", "oldest.json",
                                                              "oldest.onnx"]


def test_onnxruntime_refuses_what_would_not_fit_the_cap_naming_the_export():
    with pytest.raises(LatencyError, match=r"\(exporting, quantizing and timing\) would take .* lower the resolution"):
        # (a memory limit it fits: at the default 2 GB the memory guard refuses it first)
        measure_latency("mobilenet_v2", 3.0, 4.0, 1024, runtime="onnxruntime", dtype="int8", threads=1,
                        memory_limit_mb=65536)


@pytest.mark.parametrize("kwargs,message", [
    ({"dtype": "int8"}, "int8 is timed with runtime onnxruntime (static quantization): pick onnxruntime, or "
                        "float32 or bfloat16 with torch"),
    ({"runtime": "onnxruntime", "dtype": "bfloat16"}, "dtype 'bfloat16' is not supported on cpu with onnxruntime: "
                                                      "use float32 or int8 (or runtime torch for it)"),
    ({"runtime": "onnxruntime", "channels_last": True}, "channels_last applies to runtime torch only"),
    ({"runtime": "tensorrt"}, "runtime 'tensorrt' is not one of torch, onnxruntime"),
])
def test_refusals_say_what_to_change(kwargs, message):
    with pytest.raises(LatencyError) as refused:
        measure_latency("mobilenet_v2", **kwargs)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_cuda_with_onnxruntime_needs_its_execution_provider(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # torch could use cuda; this onnxruntime cannot
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(LatencyError, match="onnxruntime here has no execution provider for cuda .*use device cpu"):
        measure_latency("mobilenet_v2", device="cuda", runtime="onnxruntime")


def test_store_key_separates_runtimes_and_keeps_torch_keys(monkeypatch):
    settings = dict(SMALL, device="cpu", batch=1, dtype="float32", channels_last=False)
    assert jobs.settings_key(dict(settings, runtime="torch")) == jobs.settings_key(settings)  # stored ones stay valid
    onnx = jobs.settings_key(dict(settings, runtime="onnxruntime"))
    assert onnx != jobs.settings_key(settings)
    real = jobs.package_version
    monkeypatch.setattr(jobs, "package_version", lambda name: "99.0" if name == "onnxruntime" else real(name))
    assert jobs.settings_key(dict(settings, runtime="onnxruntime")) != onnx  # another ORT version, another result


def test_the_runtime_lists_agree():
    """The command line and the page list runtimes without importing torch; the engine's list is the truth."""
    from core import cli
    from core.measurement import latency
    from ui import state

    assert cli.RUNTIMES == state.RUNTIMES == latency.RUNTIMES
