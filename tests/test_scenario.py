"""Scenarios on real regions: plans that explain themselves, compliance, street-office restriction."""

from __future__ import annotations

import json

import pytest

from geodata.region import Region
from planner.location.problem import InfeasibleProblem
from planner.scenario import Scenario, run_scenario


def test_meal_point_plan_on_the_sample(sample_region: Region) -> None:
    plan = run_scenario(sample_region, Scenario(name="助餐点", facility_type="meal_point", model="mclp", n_new=4, standard_min=6))
    s = plan.summary
    assert s["solver"]["proven_optimal"] and s["new_sites"] == 4
    assert 0 < s["covered_share"] <= 1 and s["covered_persons"] <= s["residents_in_group"] + 1e-6
    # each chosen site adds residents, in rank order, and the additions sum to the coverage
    assert list(plan.sites["rank"]) == [1, 2, 3, 4]
    assert plan.sites["adds_persons"].sum() == pytest.approx(s["covered_persons"], abs=0.5)
    assert (plan.sites["adds_persons"].diff().dropna() <= 1e-6).all()
    # per-unit tables: covered never exceeds residents, shares in [0, 1]
    units = plan.units
    assert (units["covered"] <= units["residents"] + 1e-6).all()
    towns = units[units["level"] == "town"]
    assert towns["residents"].sum() == pytest.approx(s["residents_in_group"], abs=1.0)
    assert "ESTIMATE" in s["data"]["en"]
    payload = json.dumps(plan.to_dict(), ensure_ascii=False)
    assert "助餐点" in payload and "Helsinki" in payload
    # the demand table agrees with the summary
    within = plan.demand["within_standard"].to_numpy()
    assert plan.demand.loc[within, "pop_60"].sum() == pytest.approx(s["covered_persons"], abs=0.5)


def test_care_centres_every_town_meets_its_minimum(sample_region: Region) -> None:
    plan = run_scenario(sample_region, Scenario(name="居家养老中心", facility_type="care_centre", model="mclp", n_new=4, standard_min=10,
                                                unit_min={"town": 1}, unit_min_residents=50))
    assert plan.summary["compliant"]
    target = plan.compliance[0]
    assert target["met"] and target["units_failing"] == []
    assert target["units_exempt"] == ["Hakaniemi"]  # 3 people aged 60+ in the clipped extract
    towns = plan.units[plan.units["level"] == "town"]
    for _, row in towns.iterrows():
        if row["name"] != "Hakaniemi":
            assert row["existing_sites"] + row["new_sites"] >= 1 and row["compliant"]
    # existing centres are kept
    assert (plan.sites["plan_status"] == "existing").sum() == 2


def test_unit_without_candidates_is_named(sample_region: Region) -> None:
    with pytest.raises(InfeasibleProblem, match="town 'Hakaniemi' needs at least 1 site"):
        run_scenario(sample_region, Scenario(facility_type="care_centre", model="mclp", n_new=4, standard_min=10, unit_min={"town": 1}))


def test_street_office_sees_only_its_town(sample_region: Region) -> None:
    towns = sample_region.units_at("town").set_index("name")["unit_id"]
    plan = run_scenario(sample_region, Scenario(facility_type="meal_point", model="mclp", n_new=3, standard_min=5, town="Kluuvi"))
    assert (plan.sites["town"] == towns["Kluuvi"]).all()
    assert set(plan.units.loc[plan.units["level"] == "town", "name"]) == {"Kluuvi"}
    # with its own proposals only, the office gets a ranking of those
    own = plan.candidates["site_id"].iloc[:5].tolist()
    mine = run_scenario(sample_region, Scenario(facility_type="meal_point", model="mclp", n_new=2, standard_min=5, town="Kluuvi", candidate_site_ids=own))
    assert set(mine.sites["site_id"]) <= set(own)


@pytest.mark.parametrize("model", ["pmedian", "pcenter", "lscp", "attendance"])
def test_other_models_on_a_synthetic_city(model, small_city: Region) -> None:
    kwargs = {"n_new": 3}
    if model == "lscp":
        kwargs = {"n_new": None, "coverage_target": 0.5}
    if model == "attendance":
        kwargs["decay"] = {"kind": "linear", "cutoff_min": 20}
    plan = run_scenario(small_city, Scenario(facility_type="care_centre", model=model, standard_min=15, time_limit=60, **kwargs))
    s = plan.summary
    assert s["solver"]["proven_optimal"], s["solver"]
    if model == "lscp":
        assert s["covered_share"] >= 0.5 - 1e-9
    else:
        assert s["new_sites"] == 3
    assert "SYNTHETIC" in s["data"]["en"]


def test_scenario_field_errors(sample_region: Region) -> None:
    with pytest.raises(ValueError, match="facility_type: unknown type 'canteen'"):
        run_scenario(sample_region, Scenario(facility_type="canteen"))
    with pytest.raises(ValueError, match="mode: region .* has no bike|mode: unknown mode 'bike'"):
        run_scenario(sample_region, Scenario(mode="bike"))
    with pytest.raises(ValueError, match="town: unknown town 'Atlantis'"):
        run_scenario(sample_region, Scenario(town="Atlantis"))
    with pytest.raises(ValueError, match="required_sites: unknown site id"):
        run_scenario(sample_region, Scenario(required_sites=["nope"]))
    with pytest.raises(ValueError, match="standard: give exactly one"):
        run_scenario(sample_region, Scenario(standard_min=10, standard_m=500))
    with pytest.raises(InfeasibleProblem, match="new sites asked for but only"):
        run_scenario(sample_region, Scenario(facility_type="care_centre", n_new=50))


def test_hierarchy_on_a_synthetic_city() -> None:
    from geodata.synthetic import SyntheticSpec, synthetic_region
    from planner.scenario import LevelSpec, run_hierarchy

    small_city = synthetic_region(SyntheticSpec(seed=7, n_candidates=1500), modes=("walk",))
    levels = [
        LevelSpec("flagship", ("care_centre",), "city", existing_types=("flagship",), minimum=1, maximum=1, standard_min=30, weight=0.5),
        LevelSpec("town_centre", ("care_centre",), "town", minimum=1, standard_min=15, weight=1.0),
        LevelSpec("community_venue", ("meal_point", "care_centre"), "community", existing_types=("meal_point",), minimum=1, standard_min=8, weight=1.0),
    ]
    plan = run_hierarchy(small_city, levels, time_limit=60)
    assert plan["solver"]["proven_optimal"]
    by_name = {lv["name"]: lv for lv in plan["levels"]}
    assert len(by_name["flagship"]["sites"]) == 1
    assert by_name["town_centre"]["compliant"] and by_name["community_venue"]["compliant"]
    flagship = {s["site_id"] for s in by_name["flagship"]["sites"]}
    centres = {s["site_id"] for s in by_name["town_centre"]["sites"]}
    venues = {s["site_id"] for s in by_name["community_venue"]["sites"]}
    assert not (flagship & centres) and not (centres & venues)  # one facility per site, tiers distinct
    towns = {s["town"] for s in by_name["town_centre"]["sites"]}
    assert towns == set(small_city.units_at("town")["unit_id"])
