"""``python -m core``: readable output, JSON, sweeps with progress, clean refusals."""
import csv
import json
import os
import subprocess
import sys
import time

import pytest

from core.cli import main
from tests.conftest import ROOT


def test_profile_prints_summary_and_layer_table(capsys):
    assert main(["profile", "mobilenet_v2", "--width", "0.5", "--resolution", "160"]) == 0
    out = capsys.readouterr().out
    assert "1,968,680" in out and "FLOPs" in out and "= 2 x MACs" in out
    assert "stages.0.0.depthwise" in out and "activation_bytes" in out


def test_profile_json_is_one_object(capsys):
    assert main(["profile", "efficientnet_b3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["params"] == 12_233_232 and summary["flops"] == 2 * summary["macs"]
    assert {"backbone", "width", "depth", "resolution"} <= summary.keys()
    assert summary["top1"]["published"] and summary["top1"]["top1"] == 81.6


def test_profile_prints_the_accuracy_estimate_with_its_band(capsys):
    assert main(["profile", "mobilenet_v2", "--width", "0.6", "--resolution", "200", "--no-layers"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("top-1"))
    assert "~" in line and "±" in line and "(estimate: fitted scaling model of MobileNet V2" in line
    assert main(["profile", "resnet50", "--classes", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["top1"]["top1"] is None


def test_compound_phi(capsys):
    assert main(["profile", "efficientnet_b0", "--phi", "1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["width"], summary["depth"], summary["resolution"]) == (pytest.approx(1.1), 1.2, 258)


@pytest.mark.parametrize("argv,message", [
    (["profile", "vgg"], "unknown backbone 'vgg'"),
    (["profile", "mobilenet_v2", "--width", "wide"], "'wide' is not a number"),
    (["profile", "mobilenet_v2", "--depth", "7"], "use 0.1 to 4.0"),
    (["profile", "resnet50", "--resolution", "16"], "use at least 32 px"),
    (["sweep", "mobilenet_v2", "--resolution", "a:b:c"], "is not a number"),
    (["sweep", "mobilenet_v2", "--width", "0.1:3:0.0001", "--depth", "0.1:4:0.01"],
     "the sweep has 11,339,391 configurations (width 29,001, depth 391, resolution 1 values), above the limit of "
     "1,000,000: narrow a range or take a larger step"),
    (["latency", "efficientnet_b7", "--width", "3", "--depth", "4", "--resolution", "1024", "--memory-limit-mb",
      "8192"], "s cap: lower the resolution"),
    (["latency", "efficientnet_b7", "--width", "3", "--depth", "4", "--resolution", "1024"],
     "MB limit: lower the batch, resolution or width"),
    (["latency", "mobilenet_v2", "--threads", "0"], "0 is out of range: use 1 to"),
    (["latency", "mobilenet_v2", "--device", "tpu"], "device 'tpu' is not available"),
    (["latency", "mobilenet_v2", "--runtime", "tvm"], "invalid choice: 'tvm' (choose from"),
    (["latency", "mobilenet_v2", "--dtype", "int4"], "invalid choice: 'int4' (choose from"),
    (["latency", "mobilenet_v2", "--dtype", "int8"], "int8 is timed with runtime onnxruntime"),
    (["latency", "mobilenet_v2", "--runtime", "onnxruntime", "--dtype", "bfloat16"], "use float32 or int8"),
    (["latency", "efficientnet_b7", "--batch", "64"], "lower the batch, resolution or width"),
    (["profile", "efficientnet_b0", "--phi", "1", "--width", "2"], "not both"),
    ([], "required"),
])
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("error:") and "\n" not in err and "Traceback" not in err


def test_sweep_writes_csv_and_stays_quiet_when_stderr_is_not_a_terminal(tmp_path, capsys):
    target = tmp_path / "grid.csv"
    assert main(["sweep", "mobilenet_v2", "--width", "0.5:1.5:0.25", "--depth", "1,2",
                 "--resolution", "128:224:32", "-o", str(target)]) == 0
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 5 * 2 * 4
    assert capsys.readouterr().err == ""
    assert int(rows[0]["flops"]) == 2 * int(rows[0]["macs"])


def test_huge_sweep_is_refused_at_once_without_building_the_grid():
    """The issue's sweep: 10^11 configurations. Counting them must not materialise them."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "core", "sweep", "efficientnet_b0", "--width", "0.1:3:0.0001",
                           "--depth", "0.1:4:0.001", "--resolution", "32:1024:1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "112,340,970,693 configurations" in done.stderr
    assert time.perf_counter() - started < 30


def test_progress_bar_shows_on_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main(["sweep", "mobilenet_v2", "--width", "0.5,1", "-o", os.devnull]) == 0
    assert "/2 [" in capsys.readouterr().err  # tqdm's bar


def test_module_entry_point_runs_as_a_process():
    done = subprocess.run([sys.executable, "-m", "core", "profile", "nope"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    listing = subprocess.run([sys.executable, "-m", "core", "list"], cwd=ROOT, capture_output=True, text=True)
    assert "efficientnet_b7" in listing.stdout.split()


def test_bad_runtime_or_dtype_lists_the_allowed_values(capsys):
    for flag, allowed in (("--runtime", ("torch", "onnxruntime")), ("--dtype", ("float32", "bfloat16", "int8"))):
        assert main(["latency", "mobilenet_v2", flag, "nope"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and all(value in err for value in allowed)


def test_latency_with_onnxruntime_int8_reports_runtime_file_sizes_and_caveat(capsys):
    argv = ["latency", "mobilenet_v2", "--width", "0.35", "--resolution", "96", "--runtime", "onnxruntime",
            "--dtype", "int8", "--threads", "1", "--warmup", "1", "--repeats", "3"]
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["runtime"] == "onnxruntime" and result["dtype"] == "int8"
    assert 3 < result["fp32_file_bytes"] / result["model_file_bytes"] < 5
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "onnxruntime 1." in out and "ONNX file" in out and "smaller" in out and "does not claim" in out


def test_ptflops_command_itemises_the_difference(capsys):
    assert main(["ptflops", "mobilenet_v3_small", "--width", "0.5", "--resolution", "96", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["explained"] and result["breakdown"]["ptflops total"] == result["ptflops_ops"]
    assert result["breakdown"]["engine MACs (conv + linear)"] == result["engine_macs"]


# ---- network specs and per-stage multipliers ---------------------------------------------------

WIDER = "1,1,1,1,1,1,1,1.5,2"  # MobileNet V3 Small's 9 stages, the last two widened


@pytest.fixture
def spec_file(tmp_path, capsys):
    """A built-in's spec, written by the command line itself."""
    target = tmp_path / "small.json"
    assert main(["export-spec", "mobilenet_v3_small", "-o", str(target)]) == 0
    assert capsys.readouterr().out == ""
    return target


def test_profile_of_a_spec_per_stage_prints_core_profiles_counts(spec_file, capsys):
    import core

    expected = core.profile(core.load_spec(spec_file), resolution=96, stage_width=[float(v) for v in WIDER.split(",")])
    assert main(["profile", "--spec", str(spec_file), "--stage-width", WIDER, "--resolution", "96", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["params"], summary["macs"]) == (expected.params, expected.macs)
    assert summary["backbone"] == expected.backbone and summary["stage_width"] == list(expected.stage_width)
    assert summary["top1"]["top1"] is None and summary["training_recipe"] is None  # nothing published for it
    assert main(["profile", "--spec", str(spec_file), "--stage-width", WIDER, "--resolution", "96",
                 "--no-layers"]) == 0
    out = capsys.readouterr().out
    assert f"{expected.params:,}" in out and f"{expected.macs:,}" in out
    assert out.startswith(f"MobileNet V3 Small ({core.load_spec(spec_file).name}) per stage ({expected.backbone})")
    assert "per stage     width 1, 1, 1, 1, 1, 1, 1, 1.5, 2" in out


def test_export_spec_round_trips_a_built_in_and_a_per_stage_network(tmp_path, capsys):
    assert main(["export-spec", "efficientnet_b3"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert spec["based_on"] == "efficientnet_b3" and spec["defaults"]["resolution"] == 300
    deeper = ["--stage-depth", "1,1,2,2,1,1,1"]
    target = tmp_path / "deeper.json"
    assert main(["export-spec", "mobilenet_v2", *deeper, "-o", str(target)]) == 0
    counts = []
    for argv in (["profile", "--spec", str(target)], ["profile", "mobilenet_v2", *deeper]):
        assert main([*argv, "--json"]) == 0
        counts.append(json.loads(capsys.readouterr().out)["macs"])
    assert counts[0] == counts[1]


def test_sweep_latency_and_predict_take_a_spec(spec_file, tmp_path, capsys):
    grid = tmp_path / "grid.csv"
    assert main(["sweep", "--spec", str(spec_file), "--width", "0.5,1", "--stage-width", WIDER, "-o", str(grid)]) == 0
    rows = list(csv.DictReader(grid.open()))
    assert len(rows) == 2 and all("-stages-" in row["backbone"] for row in rows)
    assert main(["latency", "--spec", str(spec_file), "--resolution", "64", "--threads", "1", "--warmup", "1",
                 "--repeats", "3", "--stage-width", WIDER]) == 0
    out = capsys.readouterr().out
    assert out.startswith("MobileNet V3 Small (custom-") and " per stage (custom-" in out and "median" in out
    assert main(["predict", "--spec", str(spec_file), "--device", "raspberry_pi_4", "--no-layers"]) == 0
    assert "roofline lower bound" in capsys.readouterr().out


@pytest.mark.parametrize("contents,extra,message", [
    ("bogus", [], "spec: unknown field 'bogus': the fields are based_on, classifier"),
    ("{not json", [], "spec: not valid JSON at line 1"),
    (" " * 70_000 + "{}", [], "spec: the file is 70,002 bytes; a spec may be at most"),
    (None, [], "spec: no such file"),
    ("", ["mobilenet_v2"], "give a backbone or --spec, not both"),
    ("", ["--stage-width", "1,2"], "stage_width has 2 values; MobileNet V3 Small has 9 stages"),
    ("", ["--stage-depth", ",".join(["5"] * 9)], "stage_depth of stage 1 is 5.0: use 0.25 to 3"),
])
def test_a_bad_spec_or_stage_list_exits_2_with_one_line(contents, extra, message, spec_file, tmp_path, capsys):
    path = spec_file if contents == "" else tmp_path / "bad.json"
    if contents == "bogus":  # a whole spec with one field too many
        contents = json.dumps({**json.loads(spec_file.read_text()), "bogus": 1})
    if contents:
        path.write_text(contents)
    assert main(["profile", *extra, "--spec", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("error:") and "\n" not in err and "Traceback" not in err


def test_a_network_must_be_named_and_recipes_stay_built_in(spec_file, capsys):
    assert main(["profile"]) == 2
    assert "profile: give a backbone (see 'list') or --spec FILE" in capsys.readouterr().err
    assert main(["recipe", "--spec", str(spec_file)]) == 2  # a reference recipe belongs to a published network
    assert capsys.readouterr().err.count("\n") == 1
