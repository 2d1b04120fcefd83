"""The tuned constants (promptopt.planners.environments.tuning) hit the spec's targets on dev100."""

from __future__ import annotations

from promptopt.planners.environments.calibration import calibration_report


def test_dev100_calibration() -> None:
    r = calibration_report("dev100")
    assert 0.45 <= r["greedy"] <= 0.55, r
    assert 0.60 <= r["greedy-pair"] <= 0.70, r
    assert r["oracle"] >= 0.95, r
    # skipping containers in "rare" episodes costs >= 15 points (full-information team)
    assert r["rare_container_cost_oracle"] >= 0.15, r
    # and it costs the single greedy agent too, though less (finding objects is its bottleneck)
    assert r["rare_container_cost_greedy"] > 0.05, r
    assert r["claims"] > r["greedy-pair"], r
