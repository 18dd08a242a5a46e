"""Published reference tables: schema, sources, known rows, labelled estimates."""
import numpy as np
import pytest

import core
from core import reference


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


def test_width_by_resolution_variant_reads_the_grid():
    estimate = reference.estimate_top1("mobilenet_v2", 0.6, 1, 200)
    assert estimate.direction == "width x resolution"
    assert estimate.curve == "MobileNet V2 width x resolution (TF-slim grid)"
    assert estimate.variable == "log width and log resolution"
    assert 63.9 < estimate.top1 < 69.8  # between 0.5 @ 192 and 0.75 @ 224


def test_estimate_at_a_published_point_is_that_point():
    assert reference.estimate_top1("efficientnet_b3", 1.2, 1.4, 300).top1 == pytest.approx(81.6)
    v1 = reference.estimate_top1("mobilenet_v1_050", 0.5, 1.0, 224)
    assert (v1.top1, v1.curve) == (63.7, "MobileNet V1 by width (Howard et al. 2017, Table 6)")


def test_resolution_only_b0_at_600_px_sits_below_the_compound_curve():
    """The paper's point: one axis saturates well below compound scaling at the same cost."""
    estimate = reference.estimate_top1("efficientnet_b0", 1.0, 1.0, 600)
    assert estimate.direction == "resolution"
    assert "by resolution" in estimate.curve and "Figure 3" in estimate.source
    macs = core.profile("efficientnet_b0", 1.0, 1.0, 600).macs
    compound = reference.frontier(reference.curve_points().query("curve == 'EfficientNet B0-B7 (paper)'"))
    on_compound = np.interp(np.log(macs / 1e6), np.log(compound.macs_m), compound.top1)
    assert estimate.top1 < on_compound - 2


@pytest.mark.parametrize("config,direction", [
    (("efficientnet_b0", 2.0, 1.0, 224), "width"), (("efficientnet_b0", 1.0, 3.0, 224), "depth"),
    (("mobilenet_v2", 1.0, 2.0, 224), "depth"), (("resnet50", 1.0, 1.0, 320), "resolution"),
    (("mobilenet_v1", 1.1, 1.2, 250), "compound"), (("efficientnet_b2", 1.1, 1.2, 260), "compound")])
def test_each_direction_reads_its_own_series(config, direction):
    estimate = reference.estimate_top1(*config)
    assert estimate.direction == direction and estimate.top1 is not None
    assert direction in estimate.curve and estimate.basis


@pytest.mark.parametrize("config", [("efficientnet_b0", 1.5, 1.0, 300), ("resnet18", 1.5, 1.0, 224),
                                    ("mobilenet_v2", 1.2, 1.0, 200), ("mobilenet_v3_large", 1.0, 2.0, 224)])
def test_no_estimate_without_data_in_that_direction(config):
    estimate = reference.estimate_top1(*config)
    assert estimate.top1 is None and estimate.curve is None
    assert estimate.basis.startswith(("no published", "outside the published"))


def test_no_estimate_outside_the_published_range():
    assert reference.estimate_top1("resnet50", 3.0, 1.0, 224).top1 is None
    assert reference.estimate_top1("mobilenet_v2", 0.1, 0.1, 32).top1 is None
    assert reference.estimate_top1("mobilenet_v3_large", 0.75, 1.0, 224).top1 is None  # 140 M < 155 M


def test_scaling_series_for_the_chart():
    series = reference.scaling_series("efficientnet_b3")
    assert set(series.axis) == {"width", "depth", "resolution", "compound"}
    assert series.source.notna().all() and series.macs.gt(0).all()
    read = series[series.source.str.contains("Figure 3")]
    assert len(read) == 6 + 6 + 7 and read.notes.str.contains("read from figure").all()
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
