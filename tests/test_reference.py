"""Published reference tables: schema, sources, known rows, labelled estimates."""
import pytest

import core
from core import reference


@pytest.mark.parametrize("family", reference.FAMILY_FILES)
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


def test_estimate_interpolates_between_published_points():
    estimate = reference.estimate_top1("mobilenet_v2", core.profile("mobilenet_v2", 0.6, 1, 200).macs)
    assert estimate.curve == "MobileNet V2 (TF-slim grid)"
    assert 66.4 < estimate.top1 < 68.7


def test_estimate_at_a_published_point_is_that_point():
    b3 = core.profile("efficientnet_b3")
    assert reference.estimate_top1("efficientnet_b0", b3.macs).top1 == pytest.approx(81.6, abs=0.1)
    assert reference.estimate_top1("efficientnet_b0", core.profile("efficientnet_b0").macs).top1 == 77.1


def test_no_estimate_outside_the_published_range():
    assert reference.estimate_top1("resnet50", core.profile("resnet50", 2.0).macs) is None
    assert reference.estimate_top1("mobilenet_v2", core.profile("mobilenet_v2", 0.1, 0.1, 32).macs) is None


def test_frontier_keeps_best_accuracy_per_cost():
    curve = reference.frontier(reference.curve_points().query("curve == 'MobileNet V1 (TF-slim grid)'"))
    assert curve.macs_m.is_monotonic_increasing and curve.top1.is_monotonic_increasing


def test_published_accuracy_only_for_exactly_published_configurations():
    b3 = reference.published_top1("efficientnet_b0", 1.2, 1.4, 300)
    assert (b3.top1, b3.variant) == (81.6, "EfficientNet-B3") and "Tan & Le" in b3.source
    assert reference.published_top1("mobilenet_v2", 0.5, 1.0, 160).top1 == 61.0
    assert reference.published_top1("mobilenet_v2", 0.55, 1.0, 160) is None
    assert reference.published_top1("resnet50", 1.0, 1.0, 224).top1 == 76.13
