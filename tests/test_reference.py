"""Published reference tables: schema, sources, known rows, labelled estimates."""
import numpy as np
import pytest

import core
from core.published import reference


@pytest.mark.parametrize("family", (*reference.FAMILY_FILES, reference.SCALING_FILE))
def test_every_table_has_the_schema_and_a_source_on_every_row(family):
    table = reference.load(family)
    for column in ("model", "variant", "origin", "resolution", "top1", "source"):
        assert column in table.columns
    assert table.source.notna().all()
    assert table.top1.between(30, 100).all()


def test_known_rows():
    b7 = reference.load("efficientnet").query("origin == 'paper' and model == 'efficientnet_b7'").iloc[0]
    assert (b7.width_mult, b7.depth_mult, b7.resolution, b7.top1) == (2.0, 3.1, 600, 84.3)
    v2 = reference.load("mobilenet_v2").query("variant == 'mobilenet_v2_0.35_96'").iloc[0]
    assert (v2.macs_m, v2.top1) == (11, 45.5)
    r50 = reference.load("resnet").query("release == 'IMAGENET1K_V1' and model == 'resnet50'").iloc[0]
    assert r50.params_exact == 25_557_032


def test_curves_cover_every_family_with_sources():
    points = reference.curve_points()
    assert points.groupby("curve").size().to_dict() == {
        "EfficientNet B0-B7 (paper)": 8, "MobileNet V1 (TF-slim grid)": 16,
        "MobileNet V2 (TF-slim grid)": 22, "MobileNet V3 Large (paper)": 2,
        "MobileNet V3 Small (paper)": 2, "ResNet-18/34/50 (torchvision V1)": 3}
    assert points.source.notna().all()
    for base in core.ARCHITECTURES:
        assert reference.curve_for(base) is not None


def test_width_by_resolution_variant_is_estimated_between_its_grid_neighbours():
    estimate = reference.estimate_top1("mobilenet_v2", 0.6, 1, 200)
    assert estimate.direction == "width x resolution" and not estimate.published
    assert "fitted scaling model of MobileNet V2" in estimate.basis
    assert 63.9 < estimate.top1 < 69.8  # between 0.5 @ 192 and 0.75 @ 224
    assert estimate.low < estimate.top1 < estimate.high


def test_estimate_at_a_published_point_is_that_point():
    assert reference.estimate_top1("efficientnet_b3", 1.2, 1.4, 300).top1 == 81.6
    v1 = reference.estimate_top1("mobilenet_v1_050", 0.5, 1.0, 224)
    assert v1.published and v1.top1 == reference.published_top1("mobilenet_v1_050", 0.5, 1.0, 224).top1 == 63.3
    assert (v1.low, v1.high) == (63.3, 63.3)
    assert any(source.startswith("0.5 MobileNet-224: 63.7% (Howard et al. 2017, Table 6") for source in v1.sources)


def test_resolution_only_b0_at_600_px_sits_below_the_compound_curve():
    """The paper's point: one axis saturates well below compound scaling at the same cost."""
    estimate = reference.estimate_top1("efficientnet_b0", 1.0, 1.0, 600)
    assert estimate.direction == "resolution" and not estimate.published
    assert "Figure 3" in estimate.sources[0]
    macs = core.profile("efficientnet_b0", 1.0, 1.0, 600).macs
    compound = reference.frontier(reference.curve_points().query("curve == 'EfficientNet B0-B7 (paper)'"))
    on_compound = np.interp(np.log(macs / 1e6), np.log(compound.macs_m), compound.top1)
    assert estimate.top1 < on_compound - 2


@pytest.mark.parametrize("config,direction", [
    (("efficientnet_b0", 2.0, 1.0, 224), "width"), (("efficientnet_b0", 1.0, 3.0, 224), "depth"),
    (("mobilenet_v2", 1.0, 2.0, 224), "depth"), (("resnet50", 1.0, 1.0, 320), "resolution"),
    (("mobilenet_v1", 1.1, 1.2, 250), "compound"), (("efficientnet_b2", 1.1, 1.2, 260), "compound")])
def test_every_direction_gets_an_estimate_and_says_its_basis(config, direction):
    estimate = reference.estimate_top1(*config)
    assert estimate.direction == direction and estimate.top1 is not None and estimate.basis


@pytest.mark.parametrize("config", [("efficientnet_b0", 1.5, 1.0, 300), ("mobilenet_v2", 1.2, 1.0, 200),
                                    ("mobilenet_v3_large", 1.0, 2.0, 224), ("mobilenet_v1", 0.5, 2.0, 224),
                                    ("efficientnet_b0", 1.0, 1.0, 200), ("resnet50", 1.0, 1.0, 600)])
def test_configurations_the_series_missed_get_an_estimate(config):
    """Issue 16's gaps: every family with published data estimates every configuration."""
    estimate = reference.estimate_top1(*config)
    assert estimate.top1 is not None and estimate.low < estimate.top1 < estimate.high and not estimate.published


def test_a_family_with_too_little_data_says_so():
    estimate = reference.estimate_top1("resnet18", 1.5, 1.0, 224)
    assert estimate.top1 is None and estimate.basis.startswith("too little data")
    assert reference.estimate_top1("resnet34", 1.0, 1.0, 224).published  # its one published network


def test_far_outside_the_data_the_estimate_is_extrapolated_with_a_wider_band():
    inside = reference.estimate_top1("resnet50", 1.5, 1.0, 224)
    beyond = reference.estimate_top1("resnet50", 3.0, 1.0, 224)
    assert beyond.extrapolated and not inside.extrapolated and beyond.band > inside.band
    assert "extrapolated in width" in beyond.basis
    tiny = reference.estimate_top1("mobilenet_v2", 0.1, 0.1, 32)
    assert tiny.extrapolated and tiny.low >= 0.1  # never below chance
    torchvision_075 = reference.estimate_top1("mobilenet_v3_large", 0.75, 1.0, 224)  # 140 M MACs, not TF-slim's
    assert not torchvision_075.published and torchvision_075.top1 is not None


def test_scaling_series_for_the_chart():
    series = reference.scaling_series("efficientnet_b3")
    assert set(series.axis) == {"width", "depth", "resolution", "compound"}
    assert series.source.notna().all() and series.macs.gt(0).all()
    read = series[series.source.str.contains("Figure 3")]
    assert len(read) == 6 + 6 + 7 and read.notes.str.contains("read from figure").all()
    assert len(series[series.source.str.contains("Table 7")]) == 4 * 2  # each axis: the baseline and one point
    assert reference.scaling_series("resnet18").empty


def test_frontier_keeps_best_accuracy_per_cost():
    curve = reference.frontier(reference.curve_points().query("curve == 'MobileNet V1 (TF-slim grid)'"))
    assert curve.macs_m.is_monotonic_increasing and curve.top1.is_monotonic_increasing


def test_published_accuracy_belongs_to_exactly_one_network():
    """V3 Large 0.75 is TF-slim's network (155 M MACs); torchvision's width rule at 0.75 is another."""
    assert reference.published_top1("mobilenet_v3_large_075", 0.75, 1.0, 224).top1 == 73.3
    assert reference.published_top1("mobilenet_v3_large", 0.75, 1.0, 224) is None
    assert reference.published_top1("mobilenet_v3_small_075", 0.75, 1.0, 224).top1 == 65.4
    assert reference.published_top1("mobilenet_v3_large", 1.0, 1.0, 224).top1 == 75.2  # one network at 1.0
    assert reference.curve_points().query("variant == 'V3-Large 0.75'").backbone.item() == \
        "mobilenet_v3_large_tf_slim"


def test_published_accuracy_only_for_exactly_published_configurations():
    b3 = reference.published_top1("efficientnet_b0", 1.2, 1.4, 300)
    assert (b3.top1, b3.variant) == (81.6, "EfficientNet-B3") and "Tan & Le" in b3.source
    assert reference.published_top1("mobilenet_v2", 0.5, 1.0, 160).top1 == 61.0
    assert reference.published_top1("mobilenet_v2", 0.55, 1.0, 160) is None
    assert reference.published_top1("resnet50", 1.0, 1.0, 224).top1 == 76.13
