"""GCJ-02 / BD-09 conversion against published reference points."""

from __future__ import annotations

import numpy as np
import pytest

from geodata.chinacoords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_china,
    normalise_coord_system,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geodata.projection import lonlat_to_xy

# Reference values published with the widely used coordtransform library (wandergis/coordtransform,
# test/app.js) for the point (116.404, 39.915) near Tiananmen, Beijing.
WGS_TO_GCJ = ((116.404, 39.915), (116.41024449916938, 39.91640428150164))
GCJ_TO_BD = ((116.404, 39.915), (116.41036949371029, 39.92133699351021))
BD_TO_GCJ = ((116.404, 39.915), (116.39762729119315, 39.90865673957631))
# coordtransform's own gcj02towgs84 is a one-step approximation; its published answer:
GCJ_TO_WGS_APPROX = ((116.404, 39.915), (116.39775550083061, 39.91359571849836))
# Beijing railway station, as given in the R package 'geoChina' docs (5 decimals): GCJ-02 and BD-09.
BEIJING_STATION_GCJ = (116.42703, 39.90245)
BEIJING_STATION_BD = (116.43351, 39.90851)


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    x, y = lonlat_to_xy([a[0], b[0]], [a[1], b[1]], "EPSG:32650")
    return float(np.hypot(x[1] - x[0], y[1] - y[0]))


@pytest.mark.parametrize(("func", "case"), [(wgs84_to_gcj02, WGS_TO_GCJ), (gcj02_to_bd09, GCJ_TO_BD)])
def test_forward_formulas_match_published_values(func, case) -> None:
    (lon, lat), (elon, elat) = case
    got = func(lon, lat)
    assert got[0] == pytest.approx(elon, abs=1e-12)
    assert got[1] == pytest.approx(elat, abs=1e-12)


def test_bd09_inverse_refines_the_published_closed_form() -> None:
    (lon, lat), published = BD_TO_GCJ
    got = bd09_to_gcj02(lon, lat)
    # Baidu's closed-form inverse is good to ~0.1 m; ours is its exact refinement
    assert metres_between((float(got[0]), float(got[1])), published) < 0.5
    forward = gcj02_to_bd09(*got)
    assert metres_between((float(forward[0]), float(forward[1])), (lon, lat)) < 1e-4


def test_gcj02_inverse_is_exact_where_the_published_approximation_is_not() -> None:
    (glon, glat) = WGS_TO_GCJ[1]
    lon, lat = gcj02_to_wgs84(glon, glat)
    assert metres_between((float(lon), float(lat)), WGS_TO_GCJ[0]) < 0.001  # sub-millimetre
    (qlon, qlat), approx = GCJ_TO_WGS_APPROX
    lon, lat = gcj02_to_wgs84(qlon, qlat)
    # the one-step approximation is within a couple of metres of the exact inverse
    assert metres_between((float(lon), float(lat)), approx) < 3.0
    # and the exact inverse maps back onto the input
    back = wgs84_to_gcj02(lon, lat)
    assert metres_between((float(back[0]), float(back[1])), (qlon, qlat)) < 0.001


def test_bd09_reference_station() -> None:
    lon, lat = gcj02_to_bd09(*BEIJING_STATION_GCJ)
    assert metres_between((float(lon), float(lat)), BEIJING_STATION_BD) < 2.0  # 5-decimal published values
    lon, lat = bd09_to_gcj02(*BEIJING_STATION_BD)
    assert metres_between((float(lon), float(lat)), BEIJING_STATION_GCJ) < 2.0


def test_offset_in_guangdong_is_walking_radius_sized() -> None:
    # Dongguan city centre: the GCJ-02 shift is several hundred metres
    wgs = (113.7518, 23.0205)
    gcj = wgs84_to_gcj02(*wgs)
    shift = metres_between(wgs, (float(gcj[0]), float(gcj[1])))
    assert 300 < shift < 700
    bd = wgs84_to_bd09(*wgs)
    back = bd09_to_wgs84(*bd)
    assert metres_between(wgs, (float(back[0]), float(back[1]))) < 0.01


def test_round_trips_vectorised_over_china() -> None:
    rng = np.random.default_rng(3)
    lon = rng.uniform(98, 134, 500)
    lat = rng.uniform(18, 53, 500)
    glon, glat = wgs84_to_gcj02(lon, lat)
    blon, blat = gcj02_to_bd09(glon, glat)
    wlon, wlat = to_wgs84(blon, blat, "BD-09")
    assert np.max(np.abs(wlon - lon)) < 1e-7 and np.max(np.abs(wlat - lat)) < 1e-7
    wlon, wlat = to_wgs84(glon, glat, "amap")
    assert np.max(np.abs(wlon - lon)) < 1e-8 and np.max(np.abs(wlat - lat)) < 1e-8


def test_no_shift_outside_china() -> None:
    lon, lat = np.array([24.94, -74.0]), np.array([60.17, 40.7])  # Helsinki, New York
    assert not in_china(lon, lat).any()
    glon, glat = wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(glon, lon)
    np.testing.assert_array_equal(glat, lat)


def test_coordinate_system_names() -> None:
    assert normalise_coord_system("GCJ-02") == "gcj02"
    assert normalise_coord_system("Baidu") == "bd09"
    assert normalise_coord_system("高德") == "gcj02"
    assert normalise_coord_system("EPSG:4326") == "wgs84"
    with pytest.raises(ValueError, match="unknown coordinate system 'cgcs2000x'"):
        normalise_coord_system("cgcs2000x")
