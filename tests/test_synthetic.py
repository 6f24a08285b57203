"""The seeded synthetic city generator."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from geodata.region import Region
from geodata.synthetic import SyntheticSpec, dongguan_scale_spec, synthetic_region


def test_same_seed_same_city_other_seed_other_city() -> None:
    a = synthetic_region(SyntheticSpec(seed=3, n_demand=300, n_candidates=50))
    b = synthetic_region(SyntheticSpec(seed=3, n_demand=300, n_candidates=50))
    c = synthetic_region(SyntheticSpec(seed=4, n_demand=300, n_candidates=50))
    assert a.demand.geometry.equals(b.demand.geometry)
    np.testing.assert_array_equal(a.networks["walk"].edge_time, b.networks["walk"].edge_time)
    assert not a.demand.geometry.equals(c.demand.geometry)


def test_structure_of_a_small_city(small_city: Region) -> None:
    spec = SyntheticSpec(seed=7)
    assert small_city.is_synthetic and "SYNTHETIC" in small_city.data_label["en"] and "合成" in small_city.data_label["zh"]
    assert len(small_city.units_at("town")) == spec.n_towns
    assert len(small_city.units_at("community")) == spec.n_towns * spec.communities_per_town
    assert len(small_city.demand) == spec.n_demand
    assert small_city.demand["pop_all"].sum() == pytest.approx(spec.population)
    assert (small_city.demand["pop_80"] <= small_city.demand["pop_60"]).all()
    assert (small_city.demand["pop_60"] <= small_city.demand["pop_all"]).all()
    assert small_city.demand["town"].notna().all() and small_city.demand["community"].notna().all()
    sites = small_city.sites
    assert ((sites["status"] == "candidate").sum()) == spec.n_candidates
    assert ((sites["type"] == "care_centre") & (sites["status"] == "existing")).sum() == spec.n_existing_care_centres
    assert len(small_city.layers["incidents"]) == spec.n_incidents
    # communities nest in towns
    parent = dict(zip(small_city.units["unit_id"], small_city.units["parent_id"]))
    assert all(parent[c] == t for c, t in zip(small_city.demand["community"], small_city.demand["town"]))


def test_road_hierarchy_and_connectivity(small_city: Region) -> None:
    walk, drive = small_city.networks["walk"], small_city.networks["drive"]
    assert set(walk.highway_vocab) == {"primary", "secondary", "residential", "footway"}
    assert "footway" not in drive.highway_vocab
    for net in (walk, drive):
        n, _ = connected_components(net.to_scipy(), directed=True, connection="strong")
        assert n == 1
    # one-way local streets exist for driving only
    assert (np.bincount(drive.edge_link) == 1).any() and (np.bincount(walk.edge_link) == 2).all()
    # arterials are faster to drive than local streets of the same length
    speed = drive.edge_length / drive.edge_time
    primary = drive.highway_vocab.index("primary")
    residential = drive.highway_vocab.index("residential")
    assert speed[drive.link_highway[drive.edge_link] == primary].mean() > 1.5 * speed[drive.link_highway[drive.edge_link] == residential].mean()


def test_dongguan_scale_spec_sizes() -> None:
    """The Dongguan-scale spec, built at a sixteenth of its area with the same street spacing and 33
    towns: the city that comes out has the sizes the spec promises (scaled), not just a formula."""
    import dataclasses

    spec = dongguan_scale_spec()
    assert spec.width_km * spec.height_km == pytest.approx(2500)
    assert (spec.n_demand, spec.n_candidates, spec.n_towns) == (200_000, 20_000, 33)
    part = dataclasses.replace(spec, width_km=12.5, height_km=12.5, n_demand=12_500, n_candidates=1_250, communities_per_town=4,
                               n_existing_meal_points=20, n_incidents=300)
    city = synthetic_region(part)
    lattice = (part.width_km * 1000 / part.street_spacing_m + 1) * (part.height_km * 1000 / part.street_spacing_m + 1)
    walk = city.networks["walk"]
    assert 0.9 * lattice < walk.n_nodes <= lattice  # a few dead ends removed, nothing invented
    assert 16 * walk.n_nodes == pytest.approx(295_067, rel=0.03)  # the full city's measured walk network, per area
    assert len(city.units_at("town")) == 33 and len(city.demand) == 12_500 and (city.sites["status"] == "candidate").sum() == 1_250
    assert city.demand["town"].notna().all()
