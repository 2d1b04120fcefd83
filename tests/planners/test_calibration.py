"""The tuned constants (promptopt.planners.environments.tuning) hit the spec's targets on dev100
(transport) and household10 (household)."""

from __future__ import annotations

from promptopt.planners.scripted.calibration import (
    calibration_report,
    household_report,
)


def test_dev100_calibration() -> None:
    r = calibration_report("dev100")
    assert 0.45 <= r["greedy"] <= 0.55, r
    assert 0.60 <= r["greedy-pair"] <= 0.70, r
    assert r["oracle"] >= 0.95, r
    # Spec: 'in "rare" episodes skipping containers costs >= 15 points'. It names no team, so it
    # holds for both teams that can skip them: the calibrated reference (single greedy agent) and
    # the full-information team.
    assert r["rare_container_cost_greedy"] >= 0.15, r
    assert r["rare_container_cost_oracle"] >= 0.15, r
    assert r["claims"] > r["greedy-pair"], r


def test_household10_calibration() -> None:
    r = household_report("household10")
    assert r["finished_greedy"] == 1.0 and 50 <= r["greedy"] <= 100, r
    # sensible ordering in steps to finish: more information and coordination finish sooner
    assert r["oracle"] < r["claims"] < r["greedy-pair"] < r["greedy"] < r["random"], r
    assert 0.15 <= r["ei_greedy-pair"] <= 0.40, r
    assert r["ei_claims"] >= r["ei_greedy-pair"] + 0.05, r
    assert r["ei_oracle"] >= 0.5 and r["finished_oracle"] == 1.0, r
