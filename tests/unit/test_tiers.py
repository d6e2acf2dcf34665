"""The tier rule and its hysteresis: a cluster near a threshold does not flip between days."""

from grassroots.scoring import model


def test_a_score_maps_to_the_first_tier_whose_threshold_it_reaches() -> None:
    assert [model.tier_of(s) for s in (2.0, 1.5, 1.0, 0.0, -0.01)] == ["high", "high", "elevated", "moderate", "low"]


def test_a_matched_cluster_keeps_its_tier_just_across_a_threshold() -> None:
    assert model.tier_with_hysteresis(-0.05, "moderate") == "moderate"
    assert model.tier_with_hysteresis(0.05, "low") == "low"
    assert model.tier_with_hysteresis(1.45, "high") == "high"
    assert model.tier_with_hysteresis(0.9, "moderate") == "elevated"  # past the margin of moderate's band


def test_a_cluster_beyond_the_margin_or_without_a_match_takes_its_own_tier() -> None:
    assert model.tier_with_hysteresis(-0.2, "moderate") == "low"
    assert model.tier_with_hysteresis(0.2, "low") == "moderate"
    assert model.tier_with_hysteresis(-0.05, None) == "low"
