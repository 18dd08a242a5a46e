"""ptflops beside our count: why the two differ, measured.

ptflops also counts batch norm, activations, pooling and element-wise ops, so its
figure is higher than the conv+linear MACs the papers use. Its ``pytorch``
backend patches torch functions globally and is not thread-safe: the app and
the benchmark never call it concurrently (the benchmark holds a lock).
"""
import io

import pytest

import core

ptflops = pytest.importorskip("ptflops")


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet18"])
def test_ptflops_reports_more_than_conv_and_linear_macs(name, capsys):
    cost = core.profile(name, 1.0, 1.0, 224)
    model = core.build_model(name)
    macs, params = ptflops.get_model_complexity_info(
        model, (3, 224, 224), as_strings=False, print_per_layer_stat=False, backend="pytorch",
        ost=io.StringIO())
    conv_linear = cost.macs
    extra = macs - conv_linear
    print(f"{name}: ptflops {macs:,} vs ours {conv_linear:,} (+{extra / conv_linear:.2%}: BN, activations, pooling)")
    assert params == cost.params
    assert 0 < extra < 0.10 * conv_linear
