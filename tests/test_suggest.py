"""Suggestions from warm models (planner.suggest) are the answers a fresh solve gives: every
question of a grid (towns × k × standards) on the sample region and on a synthetic city, compared
with planner.scenario.run_scenario — the same sites in the same order, the same residents added,
the same coverage before and after, the same solver result, and the same full plan."""

from __future__ import annotations

import itertools

import pytest

from planner.location.problem import InfeasibleProblem
from planner.scenario import Scenario, run_scenario
from planner.suggest import SuggestionEngine


def _questions(region, facility: str, ks=(1, 4), standards=(5, 15)) -> list[Scenario]:
    towns = region.units_at("town")["unit_id"].tolist()
    return [Scenario(name=f"{town} k={k} {standard} min", facility_type=facility, model="mclp", group="pop_60", mode="walk", standard_min=standard,
                     n_new=k, town=town, time_limit=20) for town, k, standard in itertools.product(towns, ks, standards)]


def _without_timings(payload: dict) -> dict:
    summary = dict(payload["summary"])
    summary.pop("seconds_total")
    summary["solver"] = {k: v for k, v in summary["solver"].items() if k not in ("seconds", "stats")}
    return {**payload, "summary": summary}


@pytest.mark.parametrize("which", ["sample", "small_city"])
def test_suggestions_equal_fresh_solves(which, request) -> None:
    region = request.getfixturevalue("sample_region" if which == "sample" else "small_city")
    engine = SuggestionEngine(region)
    answered = refused = 0
    for question in _questions(region, "meal_point"):
        try:
            fresh = run_scenario(region, question)
        except InfeasibleProblem as exc:
            with pytest.raises(InfeasibleProblem, match=str(exc)[:40]):  # the same refusal, the same words
                engine.suggest(question)
            refused += 1
            continue
        got = engine.suggest(question)
        new = fresh.sites[fresh.sites["plan_status"] == "new"].sort_values("rank")
        assert got.site_ids == new["site_id"].astype(str).tolist(), question.name
        assert got.adds_persons == new["adds_persons"].round(1).tolist(), question.name
        assert got.covered_before == fresh.summary["covered_by_existing_share"] and got.covered_after == fresh.summary["covered_share"], question.name
        assert got.solution.objective == pytest.approx(fresh.summary["solver"]["objective"], abs=1e-9)
        assert got.solution.proven == fresh.summary["solver"]["proven_optimal"]
        assert _without_timings(engine.plan(got).to_dict()) == _without_timings(fresh.to_dict()), question.name
        answered += 1
    assert answered >= 8 and answered + refused == len(_questions(region, "meal_point"))


def test_models_are_kept_per_question_without_k(sample_region) -> None:
    """k = 1..4 of one question share one warm model; another standard is another model; the
    least recently used model goes first."""
    engine = SuggestionEngine(sample_region, max_models=2)
    town = sample_region.units_at("town")["unit_id"].iloc[0]
    base = Scenario(name="q", facility_type="meal_point", model="mclp", standard_min=10, n_new=1, town=town, time_limit=20)
    for k in (1, 2, 3):
        engine.suggest(Scenario(**{**base.__dict__, "n_new": k}))
    assert len(engine._models) == 1
    engine.suggest(Scenario(**{**base.__dict__, "standard_min": 5}))
    engine.suggest(Scenario(**{**base.__dict__, "standard_min": 15}))
    assert len(engine._models) == 2  # the 10-minute model was dropped
    with pytest.raises(ValueError, match="town"):
        engine.suggest(Scenario(**{**base.__dict__, "town": None}))


def test_the_service_answers_as_the_forked_solve_and_writes_the_same_plan(sample_region, tmp_path) -> None:
    """Two services on the same region, one answering from warm engines (as shipped), one solving
    each question in a forked process with its plan (the path before): every question of a grid
    gets the same answer; each fast answer's plan, written behind it, is the forked one's (its map
    and workbook draw from it); a plan never written because the service stopped says so (410)."""
    from fastapi.testclient import TestClient

    from api import store as db
    from api.service import Settings, create_app
    from tests.limits import UNLIMITED

    admin = "pk_admin_for_suggest_tests_0123456789"
    clients = {}
    for fast in (True, False):
        folder = tmp_path / ("fast" if fast else "forked")
        clients[fast] = TestClient(create_app(Settings(regions={"sample": sample_region}, db_url=db.default_db_url(folder), data_dir=folder, admin_key=admin,
                                                       fast_suggestions=fast, **UNLIMITED)))
    h = {"X-API-Key": admin}
    towns = sample_region.units_at("town")["unit_id"].tolist()
    compared = 0
    for town, k, standard in itertools.product(towns[:2], (1, 3), (10,)):
        body = {"town": town, "k": k, "standard_min": standard}
        fast, forked = (clients[f].post("/regions/sample/suggestions", json=body, headers=h) for f in (True, False))
        assert fast.status_code == forked.status_code, (body, fast.text, forked.text)
        if fast.status_code != 200:
            assert fast.json()["detail"] == forked.json()["detail"]
            continue
        a, b = fast.json(), forked.json()
        assert {**a, "plan": 0, "map": ""} == {**b, "plan": 0, "map": ""}, body
        plan_a, plan_b = (clients[f].get(f"/plans/{x['plan']}", headers=h).json() for f, x in ((True, a), (False, b)))
        assert _without_timings(plan_a) | {"id": 0} == _without_timings(plan_b) | {"id": 0}
        assert clients[True].get(f"/plans/{a['plan']}/map?lang=zh", headers=h).status_code == 200
        compared += 1
    assert compared >= 3
    # an answer survives a restart: its plan is written when first read after it, from the stored solution
    folder = tmp_path / "fast"
    body = {"town": towns[1], "k": 2, "standard_min": 10}
    answer = clients[True].post("/regions/sample/suggestions", json=body, headers=h).json()
    store = db.Store(db.default_db_url(folder))
    assert store.get(db.plans, answer["plan"])["payload"]["status"] == "answered" and store.get(db.plans, answer["plan"])["snapshot"] is None
    restarted = TestClient(create_app(Settings(regions={"sample": sample_region}, db_url=db.default_db_url(folder), data_dir=folder, admin_key=admin)))
    plan = restarted.get(f"/plans/{answer['plan']}", headers=h)
    assert plan.status_code == 200, plan.text
    assert [s["site_id"] for s in sorted(plan.json()["sites"], key=lambda s: s["rank"]) if s["plan_status"] == "new"] == [s["site_id"] for s in answer["sites"]]
    assert store.get(db.plans, answer["plan"])["snapshot"]  # written once, then drawn from as stored
    store.set(db.plans, answer["plan"], payload={"status": "lost"})
    gone = restarted.get(f"/plans/{answer['plan']}/map", headers=h)
    assert gone.status_code == 410 and "ask for the suggestion again" in gone.json()["detail"]


def test_a_suggestion_kept_as_data_gives_the_same_plan(sample_region) -> None:
    """The record a service stores of an answer (JSON) is enough to write the answer's full plan
    later: the same plan as from the answer itself; a record from another question is refused."""
    import json

    engine = SuggestionEngine(sample_region)
    town = sample_region.units_at("town")["unit_id"].iloc[1]
    question = Scenario(name="q", facility_type="meal_point", model="mclp", standard_min=10, n_new=3, town=town, time_limit=20)
    got = engine.suggest(question)
    from planner.suggest import suggestion_from_record, suggestion_record

    record = json.loads(json.dumps(suggestion_record(got)))
    again = suggestion_from_record(question, record)
    assert again.site_ids == got.site_ids and (again.solution.is_open == got.solution.is_open).all()
    assert _without_timings(engine.plan(again).to_dict()) == _without_timings(engine.plan(got).to_dict())
    other = Scenario(name="q", facility_type="meal_point", model="mclp", standard_min=10, n_new=3,
                     town=sample_region.units_at("town")["unit_id"].iloc[2], time_limit=20)
    with pytest.raises(ValueError, match="not those of"):
        engine.plan(suggestion_from_record(other, record))
