"""import_regions: GeoJSON and CSV files into the region tree, upsert by code."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import translation
from shapely.geometry import box, shape

from grids.geometry import to_geojson
from grids.importing import RegionImportError, import_regions
from grids.locate import current_version, locate
from grids.models import Region, RegionBoundary

pytestmark = pytest.mark.django_db

CITY, COUNTY_A, COUNTY_B = "650100000000", "650102000000", "650103000000"
BOW_TIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


@pytest.fixture(autouse=True)
def _english():
    # Reasons are compared as text; the project's default language is Chinese.
    with translation.override("en"):
        yield


def square(lng: float, lat: float, size: float = 1.0) -> dict:
    return to_geojson(box(lng, lat, lng + size, lat + size))


def feature(code, name="区域", level="county", parent="", geometry=None, **props) -> dict:
    properties = {"code": code, "name": name, "level": level, "parent": parent, **props}
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def write_geojson(tmp_path: Path, features: list, name: str = "regions.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    return path


def seed_like() -> list[dict]:
    """Like the seed file: cities and their counties, a MultiPolygon, parents as codes."""
    return [
        feature(CITY, "乌鲁木齐市", "city", "", square(87, 43, 2)),
        feature(COUNTY_A, "天山区", "county", CITY, square(87, 43)),
        feature(
            COUNTY_B,
            "沙依巴克区",
            "county",
            CITY,
            {
                "type": "MultiPolygon",
                "coordinates": [square(88, 43)["coordinates"], square(87, 44)["coordinates"]],
            },
        ),
        feature("540500000000", "山南市", "city", "", square(91, 29)),
        feature("540502000000", "乃东区", "county", "540500000000", square(91, 29, 0.5)),
    ]


def run(path, **options) -> str:
    out = StringIO()
    call_command("import_regions", str(path), stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def mptt_numbers() -> list[tuple]:
    return list(
        Region.objects.order_by("code").values_list("code", "lft", "rght", "tree_id", "mptt_level")
    )


def assert_tree_consistent() -> None:
    """The numbering the import wrote is the one django-mptt's own rebuild computes."""
    before = mptt_numbers()
    Region.objects.rebuild()
    assert mptt_numbers() == before


# --- A good file --------------------------------------------------------------------------


def test_good_file_creates_regions_boundaries_and_tree(tmp_path):
    path = write_geojson(tmp_path, seed_like())
    out = run(path)

    assert out.strip().splitlines()[-1] == (
        "created 5, updated 0, unchanged 0, repaired 0, skipped 0"
    )
    city = Region.objects.get(code=CITY)
    assert city.parent is None
    assert city.level == "city"
    assert [r.code for r in city.get_children()] == [COUNTY_A, COUNTY_B]
    county_b = Region.objects.get(code=COUNTY_B)
    assert county_b.parent_id == city.pk
    assert [a.code for a in county_b.get_ancestors()] == [CITY]
    assert (county_b.min_lng, county_b.min_lat, county_b.max_lng, county_b.max_lat) == (
        87,
        43,
        89,
        45,
    )
    assert shape(county_b.boundary.geometry).covers(
        shape({"type": "Point", "coordinates": [county_b.centroid_lng, county_b.centroid_lat]})
    )
    # Stored unsimplified, exactly as given.
    assert county_b.boundary.geometry["type"] == "MultiPolygon"
    assert RegionBoundary.objects.get(region__code=COUNTY_A).geometry == square(87, 43)
    assert_tree_consistent()


def test_import_moves_the_version_stamp_and_locate_sees_the_new_boundaries(tmp_path):
    assert locate(87.5, 43.5) is None
    stamp = current_version()
    import_regions(write_geojson(tmp_path, seed_like()))
    assert current_version() != stamp
    assert locate(87.5, 43.5).code == COUNTY_A
    assert locate(88.5, 43.5).code == COUNTY_B  # the MultiPolygon's first part
    assert locate(88.5, 44.5).code == CITY  # in the city, in no county


def test_holes_of_different_sizes_and_a_z_coordinate(tmp_path):
    outer = [[87, 43], [88, 43], [88, 44], [87, 44], [87, 43]]
    hole3 = [[87.1, 43.1], [87.2, 43.1], [87.2, 43.2], [87.1, 43.1]]
    hole5 = [[87.5, 43.5], [87.6, 43.5], [87.6, 43.6], [87.55, 43.65], [87.5, 43.6], [87.5, 43.5]]
    polygon = {"type": "Polygon", "coordinates": [outer, hole3, hole5]}
    with_z = {"type": "Polygon", "coordinates": [[[*xy, 1000] for xy in outer]]}
    features = [
        feature(
            CITY,
            "市",
            "city",
            "",
            {"type": "MultiPolygon", "coordinates": [polygon["coordinates"]]},
        ),
        feature(COUNTY_A, "县", "county", CITY, polygon),
        feature(COUNTY_B, "县", "county", CITY, with_z),
    ]
    report = import_regions(write_geojson(tmp_path, features))
    assert (report.created, report.skipped) == (3, [])
    stored = RegionBoundary.objects.get(region__code=COUNTY_A).geometry
    assert shape(stored).equals(shape(polygon))
    assert len(shape(stored).interiors) == 2
    assert locate(87.15, 43.12).code == COUNTY_B  # in the holes of the city and county A
    assert locate(87.3, 43.3).code == COUNTY_A
    assert RegionBoundary.objects.get(region__code=COUNTY_B).geometry["coordinates"][0][0] == [
        87.0,
        43.0,
        1000.0,
    ]


def test_codes_given_as_numbers_are_read_as_text(tmp_path):
    path = write_geojson(tmp_path, [feature(int(CITY), "市", "city", None, square(87, 43))])
    report = import_regions(path)
    assert report.created == 1
    assert Region.objects.filter(code=CITY).exists()


# --- Rows that are skipped ----------------------------------------------------------------


def test_bad_rows_are_skipped_with_their_number_and_reason(tmp_path):
    good = square(87, 43)
    features = [
        feature(CITY, "市", "city", "", square(87, 43, 2)),  # 1: fine
        feature("", "无代码", "county", CITY, good),  # 2
        feature("65010200000X", "字母", "county", CITY, good),  # 3
        feature("6501020000", "短", "county", CITY, good),  # 4
        feature("650102000000001", "长", "county", CITY, good),  # 5
        feature("650104000000", "星球", "planet", CITY, good),  # 6
        feature("650105000000", "无层级", "", CITY, good),  # 7
        feature("650106000000", "", "county", CITY, good),  # 8
        feature("650107000000", "无边界", "county", CITY, None),  # 9
        feature("650108000000", "点", "county", CITY, {"type": "Point", "coordinates": [1, 2]}),
        feature(
            "650109000000", "坏坐标", "county", CITY, {"type": "Polygon", "coordinates": [[1]]}
        ),
        feature("650110000000", "孤儿", "county", "659900000000", good),  # 12
        feature("650111000000", "无上级", "county", "", good),  # 13
        feature("650112000000", "县下县", "county", "650113000000", good),  # 14
        feature("650113000000", "县", "county", CITY, good),  # 15: fine
        feature(CITY, "重复", "city", "", good),  # 16
        feature("650114000000", "类型", "county", CITY, good, kind="school"),  # 17
        feature("650115000000001", "未知类型", "grid", "650115000000", good, kind="zoo"),
        {"type": "Point", "coordinates": [0, 0]},  # 19
        feature("650116000000", "跳过的上级", "township", "650106000000", good),  # 20
        feature("650117000000", "界外", "county", CITY, square(190, 43)),  # 21
        feature("650118000000", "名字太长" * 30, "county", CITY, good),  # 22
    ]
    out = run(write_geojson(tmp_path, features))

    reasons = {s.row: s.reason for s in import_regions(write_geojson(tmp_path, features)).skipped}
    assert reasons == {
        2: "no code",
        3: "a county code is 12 digits, not 65010200000X",
        4: "a county code is 12 digits, not 6501020000",
        5: "a county code is 12 digits, not 650102000000001",
        6: "unknown level planet",
        7: "no level",
        8: "no name",
        9: "no geometry",
        10: "the boundary must be a Polygon or a MultiPolygon",
        11: "the boundary's coordinates cannot be read",
        12: "parent 659900000000 not found",
        13: "a county needs a parent",
        14: "a county cannot sit under a county",
        16: "the code already appears on row 1",
        17: "only grids have a kind",
        18: "unknown grid kind zoo",
        19: "not a GeoJSON Feature",
        20: "its parent 650106000000 is skipped (row 8)",
        21: "the boundary lies outside longitude -180..180 / latitude -90..90",
        22: "the name is longer than 100 characters",
    }
    # The command exits normally, lists every skipped row and ends with the summary.
    assert "row 13 (650111000000): a county needs a parent" in out
    assert "row 2: no code" in out
    assert out.strip().splitlines()[-1] == (
        "created 2, updated 0, unchanged 0, repaired 0, skipped 20"
    )
    assert set(Region.objects.values_list("code", flat=True)) == {CITY, "650113000000"}


def test_a_row_under_a_skipped_parent_row_goes_under_the_parent_already_stored(tmp_path, tree):
    features = [
        feature(tree.county.code, "乃东区", "county", tree.city.code, None),  # no geometry
        feature("540502003000", "新镇", "township", tree.county.code, square(91, 29, 0.1)),
    ]
    report = import_regions(write_geojson(tmp_path, features))
    assert [(s.row, s.reason) for s in report.skipped] == [(1, "no geometry")]
    assert report.created == 1
    assert Region.objects.get(code="540502003000").parent_id == tree.county.pk
    assert_tree_consistent()


def test_rows_naming_each_other_as_parents_are_skipped(tmp_path):
    features = [
        feature("650102000000", "甲", "county", "650103000000", square(87, 43)),
        feature("650103000000", "乙", "county", "650102000000", square(88, 43)),
        feature("650104000000", "丙", "county", "650104000000", square(89, 43)),
    ]
    report = import_regions(write_geojson(tmp_path, features))
    assert [(s.row, s.reason) for s in report.skipped] == [
        (1, "its parents loop back to it"),
        (2, "its parents loop back to it"),
        (3, "a region cannot be its own parent"),
    ]
    assert not Region.objects.exists()


def test_a_level_cannot_change_under_existing_children(tmp_path, tree):
    rows = [{"code": tree.town_a.code, "name": "泽当", "level": "village", "parent": "x"}]
    report = import_regions(rows)
    assert [s.reason for s in report.skipped] == [
        "its level cannot change from township while it has sub-regions"
    ]
    assert Region.objects.get(pk=tree.town_a.pk).level == "township"


# --- Repair -------------------------------------------------------------------------------


def test_a_bow_tie_polygon_is_repaired_and_counted(tmp_path):
    features = [feature(CITY, "市", "city", "", BOW_TIE)]
    out = run(write_geojson(tmp_path, features))
    assert out.strip().splitlines()[-1] == (
        "created 1, updated 0, unchanged 0, repaired 1, skipped 0"
    )
    stored = shape(RegionBoundary.objects.get(region__code=CITY).geometry)
    assert stored.is_valid
    assert stored.geom_type == "MultiPolygon"
    assert stored.area == pytest.approx(0.5)

    # Stored repaired, so the same file again changes nothing (it still needs repairing).
    report = import_regions(write_geojson(tmp_path, features))
    assert (report.created, report.updated, report.unchanged, report.repaired) == (0, 0, 1, 1)


# --- Idempotence and updates --------------------------------------------------------------


def test_the_same_file_twice_changes_nothing_the_second_time(tmp_path):
    path = write_geojson(tmp_path, seed_like())
    first = import_regions(path)
    assert (first.created, first.updated, first.unchanged) == (5, 0, 0)
    numbers = mptt_numbers()
    stamp = current_version()
    changed_at = list(RegionBoundary.objects.order_by("pk").values_list("updated_at", flat=True))

    out = run(path)
    assert out.strip() == "created 0, updated 0, unchanged 5, repaired 0, skipped 0"
    assert mptt_numbers() == numbers
    assert current_version() == stamp  # nothing changed: every process keeps its index
    assert (
        list(RegionBoundary.objects.order_by("pk").values_list("updated_at", flat=True))
        == changed_at
    )
    assert Region.objects.count() == 5


def test_changed_rows_are_updated_and_the_rest_unchanged(tmp_path):
    import_regions(write_geojson(tmp_path, seed_like()))
    stamp = current_version()
    features = seed_like()
    features[1]["properties"]["name"] = "天山区（新）"
    features[2]["geometry"] = square(88, 43)
    report = import_regions(write_geojson(tmp_path, features))
    assert (report.created, report.updated, report.unchanged) == (0, 2, 3)
    assert Region.objects.get(code=COUNTY_A).name == "天山区（新）"
    county_b = Region.objects.get(code=COUNTY_B)
    assert county_b.boundary.geometry == square(88, 43)
    assert (county_b.min_lng, county_b.max_lat) == (88, 44)
    assert current_version() != stamp


def test_an_updated_row_with_a_new_parent_moves_with_its_subtree(tmp_path, tree):
    # Village A moves from township A to township B; its grids follow.
    rows = [{"code": tree.village_a.code, "name": "江塘村", "level": "village"}]
    report = import_regions(rows, parent=tree.town_b.code)
    assert (report.updated, report.skipped) == (1, [])

    village = Region.objects.get(pk=tree.village_a.pk)
    town_b = Region.objects.get(pk=tree.town_b.pk)
    assert village.parent_id == town_b.pk
    assert village.is_descendant_of(town_b)
    grid = Region.objects.get(pk=tree.grid_a1.pk)
    assert [a.code for a in grid.get_ancestors()] == [
        tree.city.code,
        tree.county.code,
        tree.town_b.code,
        tree.village_a.code,
    ]
    assert Region.objects.get(pk=tree.town_a.pk).get_descendant_count() == 0
    # A CSV row carries no boundary: the stored one stays.
    assert RegionBoundary.objects.filter(region=village).exists()
    assert_tree_consistent()


# --- CSV ----------------------------------------------------------------------------------


def test_csv_with_a_bom_and_kinds(tmp_path, tree):
    path = tmp_path / "grids.csv"
    rows = [
        "code,name,parent,level,kind",
        f"540502001001003,江塘村第三网格,{tree.village_a.code},grid,market",
        f"540502001001004,江塘村第四网格,{tree.village_a.code},grid,",
        "",
        f"{tree.grid_a1.code},江塘村一网格,{tree.village_a.code},grid,school",
    ]
    path.write_bytes(("\n".join(rows) + "\n").encode("utf-8-sig"))
    out = run(path)
    assert out.strip() == "created 2, updated 1, unchanged 0, repaired 0, skipped 0"
    third = Region.objects.get(code="540502001001003")
    assert (third.kind, third.parent_id, third.min_lng) == ("market", tree.village_a.pk, None)
    assert not RegionBoundary.objects.filter(region=third).exists()
    grid = Region.objects.get(pk=tree.grid_a1.pk)
    assert (grid.name, grid.kind) == ("江塘村一网格", "school")
    assert RegionBoundary.objects.filter(region=grid).exists()  # kept
    assert_tree_consistent()


def test_csv_row_numbers_are_spreadsheet_rows(tmp_path):
    path = tmp_path / "regions.csv"
    path.write_text("code,name,level\n650100000000,市,city\n\n650102000000,县,county\n", "utf-8")
    report = import_regions(path)
    assert [(s.row, s.reason) for s in report.skipped] == [(4, "a county needs a parent")]


# --- Parents in any order, --level and --parent -------------------------------------------


def test_children_may_come_before_their_parents(tmp_path):
    township, village = "650102001000", "650102001001"
    features = [
        feature(village + "001", "网格", "grid", village, square(87, 43, 0.1)),
        feature(village, "村", "village", township, square(87, 43, 0.2)),
        feature(township, "镇", "township", COUNTY_A, square(87, 43, 0.5)),
        *reversed(seed_like()),
    ]
    report = import_regions(write_geojson(tmp_path, features))
    assert (report.created, report.skipped) == (8, [])
    grid = Region.objects.get(code=village + "001")
    assert [a.code for a in grid.get_ancestors()] == [CITY, COUNTY_A, township, village]
    assert locate(87.05, 43.05).code == village + "001"
    assert_tree_consistent()


def test_level_and_parent_options(tmp_path, tree):
    path = tmp_path / "grids.geojson"
    own_parent = {"名称": "网格二", "编码": "540502002001002", "上级": tree.village_b.code}
    features = [
        {
            "type": "Feature",
            "properties": {"名称": "网格三", "编码": "540502001001003"},
            "geometry": square(91, 29, 0.1),
        },
        # Its own parent wins over --parent.
        {"type": "Feature", "properties": own_parent, "geometry": square(91.5, 29, 0.1)},
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    out = run(
        path,
        level="grid",
        parent=tree.village_a.code,
        name_field="名称",
        code_field="编码",
        parent_field="上级",
    )
    assert out.strip() == "created 2, updated 0, unchanged 0, repaired 0, skipped 0"
    third = Region.objects.get(code="540502001001003")
    assert (third.level, third.name, third.parent_id) == ("grid", "网格三", tree.village_a.pk)
    assert Region.objects.get(code="540502002001002").parent_id == tree.village_b.pk
    assert_tree_consistent()


def test_level_option_applies_to_every_row(tmp_path):
    path = tmp_path / "cities.csv"
    path.write_text("code,name\n650100000000,乌鲁木齐市\n650102000000,天山区\n", "utf-8")
    report = import_regions(path, level="city")
    assert report.created == 2
    assert set(Region.objects.values_list("level", flat=True)) == {"city"}


def test_format_option_overrides_the_extension(tmp_path):
    path = tmp_path / "regions.txt"
    path.write_text("code,name,level\n650100000000,市,city\n", "utf-8")
    with pytest.raises(CommandError, match="--format"):
        run(path)
    assert run(path, format="csv").strip().endswith("skipped 0")


# --- Files that cannot be read ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.geojson", None, "cannot read"),
        ("bad.geojson", "{not json", "not valid JSON"),
        ("list.json", "[]", "not a GeoJSON FeatureCollection"),
        ("feature.geojson", json.dumps(feature(CITY)), "not a GeoJSON FeatureCollection"),
        ("nofeatures.geojson", '{"type": "FeatureCollection"}', "has no list of features"),
        ("empty.csv", "", "has no header row"),
        ("header.csv", "编码,名称,level\n650100000000,市,city\n", "has no column code, name"),
        ("latin1.csv", b"code,name,level\n650100000000,\xe9,city\n", "not UTF-8"),
    ],
)
def test_unreadable_files_fail_the_command(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, "utf-8")
    with pytest.raises(CommandError, match=message):
        run(path)
    with pytest.raises(RegionImportError):
        import_regions(path)
    assert not Region.objects.exists()


def test_a_missing_file_exits_non_zero(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "import_regions", str(tmp_path / "nope.geojson")],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "nope.geojson" in result.stderr


# --- Bulk writes --------------------------------------------------------------------------


def test_three_hundred_polygons_in_a_bounded_number_of_queries(
    tmp_path, django_assert_max_num_queries
):
    village = "650102001001"
    features = [
        feature(CITY, "市", "city", "", square(87, 43, 2)),
        feature(COUNTY_A, "县", "county", CITY, square(87, 43)),
        feature("650102001000", "镇", "township", COUNTY_A, square(87, 43)),
        feature(village, "村", "village", "650102001000", square(87, 43)),
    ]
    for n in range(300):
        lng, lat = 87 + (n % 20) * 0.05, 43 + (n // 20) * 0.05
        features.append(
            feature(f"{village}{n + 1:03d}", f"网格{n}", "grid", village, square(lng, lat, 0.05))
        )
    path = write_geojson(tmp_path, features)
    # Bulk writes: a handful of statements however many rows (savepoints included).
    with django_assert_max_num_queries(30):
        report = import_regions(path)
    assert (report.created, report.skipped) == (304, [])
    assert Region.objects.get(code=village).get_descendant_count() == 300
    assert locate(87.07, 43.02).code == f"{village}002"
    assert_tree_consistent()

    with django_assert_max_num_queries(15):
        again = import_regions(path)
    assert again.unchanged == 304


def test_rows_may_be_given_as_python_objects():
    report = import_regions(
        {"type": "FeatureCollection", "features": [feature(CITY, "市", "city", "", square(87, 43))]}
    )
    assert report.created == 1
    report = import_regions([{"code": COUNTY_A, "name": "县", "level": "county"}], parent=CITY)
    assert report.created == 1
    assert Region.objects.get(code=COUNTY_A).parent.code == CITY


def test_progress_bar_goes_to_the_given_stream(tmp_path):
    stream = StringIO()
    import_regions(write_geojson(tmp_path, seed_like()), progress=stream)
    # Not a terminal: tqdm stays quiet rather than filling a log with carriage returns.
    assert stream.getvalue() == ""
