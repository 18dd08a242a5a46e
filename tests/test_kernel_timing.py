"""Per-layer timings from the runtimes' profilers: every kernel lands on a profile row, for both runtimes."""
import pytest

import core
from core.measurement.kernel_timing import kernel_timing, onnx_passes, row_of, scope_path

ROWS = {"stem", "stages.0.0", "stages.0.0.depthwise", "stages.0.0.se", "stages.0.0.se.reduce", "pool"}


def test_a_module_belongs_to_its_innermost_row():
    assert row_of("stages.0.0.depthwise.conv", ROWS) == "stages.0.0.depthwise"
    assert row_of("stages.0.0.se.gate", ROWS) == "stages.0.0.se"
    assert row_of("stages.0.0", ROWS) == "stages.0.0"  # the block's own op: its residual sum
    assert row_of("stages.0.1.expand", ROWS) is None and row_of("", ROWS) is None


def test_an_exported_nodes_scope_is_its_module_path():
    assert scope_path("/stages/stages.0/stages.0.0/se/gate/HardSigmoid_output_0_nchwc") == "stages.0.0.se.gate"
    assert scope_path("/stem/conv/Conv_output_0_nchwc") == "stem.conv"
    assert scope_path("/stages/stages.2/stages.2.0/Add") == "stages.2.0"
    assert scope_path("ReorderInput_token_28") == "" and scope_path("images_QuantizeLinear") == ""


def test_onnx_nodes_without_a_scope_join_the_row_before_them_and_passes_split_by_run():
    def node(name, ts, dur):
        return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur}

    events = [{"name": "model_run", "ts": 0, "dur": 100}, {"name": "model_run", "ts": 200, "dur": 100},
              node("images_QuantizeLinear", 1, 5), node("/stem/conv/Conv", 10, 40),
              node("ReorderOutput_token_1", 55, 3),
              node("/stages/stages.0/stages.0.0/depthwise/conv/Conv", 60, 20), node("/pool/GlobalAveragePool", 85, 2),
              node("/stem/conv/Conv", 210, 30), node("HardSigmoid_164", 245, 4)]
    passes, kernels = onnx_passes(events, ROWS)
    assert passes == [{"stem": 0.048, "stages.0.0.depthwise": 0.02, "pool": 0.002}, {"stem": 0.034}]
    assert kernels == 5


@pytest.mark.parametrize("runtime,dtype", [("torch", "float32"), ("onnxruntime", "float32"), ("onnxruntime", "int8")])
def test_a_real_profile_attributes_time_to_the_networks_layers(runtime, dtype):
    cost = core.profile("efficientnet_b0", 0.35, 0.6, 64)
    timing = kernel_timing(cost, runtime, dtype, threads=1)
    names = [row[0] for row in cost.rows]
    assert set(timing.rows) == set(names) and timing.total_ms > 0 and timing.kernels >= 20
    convs = [row[0] for row in cost.rows if row[2] in ("conv", "dwconv") and row[0] != "head"]
    # every conv and depthwise layer ran as (part of) a kernel of its own; fusions may fold others into it
    assert sum(timing.rows[name] > 0 for name in convs) >= 0.9 * len(convs)
    assert timing.other_load is not None
