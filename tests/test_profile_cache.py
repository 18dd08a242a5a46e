"""The app's profile cache is bounded in memory, not only in count: it is weighed by rows, and a spec that could
grow one profile past the block bound is refused before anything is counted."""
import core
import ui.engine
from core.network.scaling import DEPTH_RANGE
from tests.test_spec import _deep
from ui.engine import cached_profile


def test_the_profile_cache_stays_within_its_row_budget_when_filled_with_the_largest_profiles():
    arch = core.load_spec(_deep(42))  # the largest the block bound allows: 3,029 rows at depth 4
    widths = [round(0.1 + step * 0.01, 2) for step in range(ui.engine.PROFILE_ROWS // 3_029 + 10)]
    costs = [cached_profile(arch, width, DEPTH_RANGE[1], 32) for width in widths]
    assert {len(cost.rows) for cost in costs} == {3_029}
    held = sum(len(cost.rows) for cost in ui.engine._PROFILES.values())
    assert held == ui.engine._held_rows <= ui.engine.PROFILE_ROWS
    assert cached_profile(arch, widths[-1], DEPTH_RANGE[1], 32) is costs[-1]  # the newest are kept
    assert (arch, widths[0], DEPTH_RANGE[1], 32, 1, "float32", "classification", None, None, None) \
        not in ui.engine._PROFILES  # the oldest were let go
    assert cached_profile("mobilenet_v2", 1.0, 1.0, 224) is cached_profile("mobilenet_v2", 1.0, 1.0, 224)
