"""Roofline bounds for devices we do not have: a sourced device table, per-layer bounds that add up."""
import plotly.graph_objects as go
import pytest

import core
from core.prediction.latency_model import predict_latency
from core.prediction.roofline import (
    DEVICES_CSV,
    HOST,
    device_names,
    host_device,
    load_devices,
    padded_macs,
    published_devices,
    roofline_layers,
)
from ui import charts


def test_every_device_row_names_its_source():
    devices = load_devices()
    assert {"phone_cortex_a78", "raspberry_pi_4", "jetson_orin_nano", "a100_sxm"} <= set(devices)
    for device in devices.values():
        assert all(url.strip().startswith("https://") for url in device.source_url.split("|"))
        assert device.source_says.strip() and device.bandwidth > 0 and device.peak("float32") > 0
        assert device.lanes["float32"] in (4, 8, 16)
    assert device_names()[0] == HOST


def test_a_row_without_a_source_is_refused(tmp_path):
    lines = DEVICES_CSV.read_text().splitlines()
    header = lines[0].split(",")
    row = {name: "" for name in header}
    row.update(name="mystery_board", title="Mystery", kind="cpu", peak_gflops_float32="10", bandwidth_gbs="5",
               lanes_float32="4")
    bad = tmp_path / "devices.csv"
    bad.write_text("\n".join([lines[0], ",".join(row[name] for name in header)]) + "\n")
    with pytest.raises(ValueError, match="mystery_board.*no source"):
        load_devices(bad)


@pytest.mark.parametrize("device", ["phone_cortex_a78", "raspberry_pi_4", "jetson_orin_nano", "a100_sxm"])
def test_layer_bounds_sum_to_the_total_and_depthwise_layers_are_memory_bound(device):
    prediction = predict_latency("mobilenet_v2", 0.75, 1.0, 160, batch=2, device=device)
    cost = core.profile("mobilenet_v2", 0.75, 1.0, 160, batch=2)
    layers = prediction.layers
    assert prediction.method == "roofline lower bound"
    assert list(layers.name) == list(cost.layers.name)
    assert layers.time_ms.sum() == pytest.approx(prediction.total_ms, rel=1e-12)
    assert prediction.total_ms == pytest.approx(prediction.bound_ms)
    assert (layers[layers.type == "dwconv"].bound == "memory").all()
    assert layers.macs.sum() == cost.macs * 2


def test_bounds_are_the_larger_of_compute_and_memory_time():
    device = host_device(1e11, 1e10)
    rows = core.profile("resnet18", resolution=64).rows
    for layer in roofline_layers(rows, 1, "float32", device):
        expected = max(layer.flops / 1e11, layer.bytes / 1e10)
        assert layer.time_s == pytest.approx(expected)
        assert layer.attainable_flops <= 1e11


def test_padded_macs_count_lanes_wasted_by_unaligned_channels():
    layers = {row[0]: row for row in core.profile("mobilenet_v2").rows}
    assert padded_macs(layers["stem"], 8) == layers["stem"][10] * 8 // 3  # 3 input channels fill 8 lanes
    assert padded_macs(layers["stages.1.0.expand"], 8) == layers["stages.1.0.expand"][10]  # 16 -> 96, aligned
    assert padded_macs(layers["stages.1.0.expand"], 32) > layers["stages.1.0.expand"][10]
    fc = layers["classifier.fc"]  # 1000 outputs: 8 x 125, but not 16 x 62.5
    assert padded_macs(fc, 8) == fc[10] and padded_macs(fc, 16) == fc[10] * 1008 // 1000


def test_a_device_without_a_figure_for_the_dtype_says_which_it_has():
    with pytest.raises(core.ScalingError, match="raspberry_pi_4 has no peak figure for float16: use one of float32"):
        predict_latency("mobilenet_v2", dtype="float16", device="raspberry_pi_4")


def test_roofline_and_staircase_figures_are_valid_plotly():
    import pandas as pd

    prediction = predict_latency("efficientnet_b0", resolution=96, device="jetson_orin_nano")
    device = published_devices()["jetson_orin_nano"]
    for modelled in (False, True):
        spec = charts.roofline_figure(prediction.layers, device.name, device.peak("float32"), device.bandwidth,
                                      modelled)
        go.Figure(spec.to_dict())
    sweep = pd.DataFrame({"width": [0.5, 0.525, 0.55], "predicted_ms": [3.0, 3.0, 3.4],
                          "measured_ms": [None, 3.1, None]})
    go.Figure(charts.width_sweep_figure(sweep, 0.525).to_dict())


def test_alignment_without_a_lane_width_says_so_rather_than_every_layer_aligned():
    from dataclasses import replace

    from ui.prediction import _alignment

    class Column:  # records what the panel writes: markdown, captions, tables
        def __init__(self):
            self.written = []

        def __getattr__(self, name):
            return lambda value, **options: self.written.append(value)

    prediction = predict_latency("mobilenet_v2", device="jetson_orin_nano")
    column = Column()
    _alignment(column, replace(prediction, lanes=None))
    assert column.written[-1] == "No lane width is known for float32 on this device: nothing to align to."
    column = Column()
    _alignment(column, prediction)
    assert column.written[0] == f"**Channel alignment** ({prediction.lanes} lanes at float32)"
    assert column.written[1]["padded MACs"].str.fullmatch(r"[\d.]+( [KMG])?").all()  # SI, never "B"
