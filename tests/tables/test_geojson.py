"""GeoJSON FeatureCollections: properties and geometry, bounding boxes, hostile geometries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cityshare.errors import InvalidData
from cityshare.tables import geometry
from tests.tables.conftest import Load

GEOJSON = "application/geo+json"
SQUARE = [[[4.0, 50.0], [5.0, 50.0], [5.0, 51.0], [4.0, 51.0], [4.0, 50.0]]]


def feature(geometry_: dict[str, Any] | None, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": geometry_}


def collection(*features: dict[str, Any], **members: Any) -> str:
    return json.dumps({"type": "FeatureCollection", **members, "features": list(features)})


def test_features_become_rows_with_a_geometry_field(load: Load) -> None:
    text = collection(
        feature({"type": "Point", "coordinates": [4.35, 50.85]}, name="Brussels", pop=1_200_000),
        feature({"type": "Polygon", "coordinates": SQUARE}, name="square", area=1.5),
        feature(None, name="nowhere"),
    )
    loaded = load(text, GEOJSON, suffix=".geojson")
    assert loaded.types == {
        "geometry": "geojson",
        "name": "string",
        "pop": "integer",
        "area": "number",
    }
    assert loaded.column("name") == ["Brussels", "square", "nowhere"]
    assert loaded.column("geometry")[0] == '{"type":"Point","coordinates":[4.35,50.85]}'
    assert json.loads(loaded.column("geometry")[1]) == {"type": "Polygon", "coordinates": SQUARE}
    assert loaded.column("geometry.bbox") == [
        (4.35, 50.85, 4.35, 50.85),
        (4.0, 50.0, 5.0, 51.0),
        (None, None, None, None),
    ]


def test_crs_members_in_any_place(load: Load) -> None:
    crs84 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    text = json.dumps(
        {
            "features": [feature({"type": "Point", "coordinates": [1, 2]})],
            "type": "FeatureCollection",
            "crs": crs84,
        }
    )
    assert load(text, GEOJSON).result.row_count == 1


@pytest.mark.parametrize("place", ["before", "after"])
def test_unknown_crs_is_refused(load: Load, place: str) -> None:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25832"}}
    point = feature({"type": "Point", "coordinates": [1, 2]})
    body = {"type": "FeatureCollection", "crs": crs, "features": [point]}
    if place == "after":
        body = {"type": "FeatureCollection", "features": [point], "crs": crs}
    with pytest.raises(InvalidData, match="Unknown CRS"):
        load(json.dumps(body), GEOJSON)


@pytest.mark.parametrize("coordinate", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_coordinates_are_refused(load: Load, coordinate: str) -> None:
    text = collection(feature({"type": "Point", "coordinates": [0, 0]}))
    text = text.replace("[0, 0]", f"[{coordinate}, 1]")
    with pytest.raises(InvalidData, match=r"(not valid JSON|finite)"):
        load(text, GEOJSON)


@pytest.mark.parametrize(
    ("geometry_", "reason"),
    [
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "not closed"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "4 or more positions"),
        ({"type": "LineString", "coordinates": [[0, 0]]}, "2 or more positions"),
        ({"type": "Circle", "coordinates": [0, 0]}, "unknown geometry type"),
        ({"type": "Point", "coordinates": [0]}, "2 or 3 numbers"),
        ({"type": "Point", "coordinates": [True, 0]}, "finite numbers"),
        ({"type": "Point", "coordinates": [500000, 5700000]}, "outside WGS 84"),
        ({"type": "MultiPolygon", "coordinates": SQUARE}, "do not nest"),
        ({"type": "Polygon", "coordinates": [[1, 2]]}, "do not nest"),
    ],
)
def test_invalid_geometries_name_the_feature(
    load: Load, geometry_: dict[str, Any], reason: str
) -> None:
    good = feature({"type": "Point", "coordinates": [1, 1]}, n=1)
    with pytest.raises(InvalidData, match=reason) as caught:
        load(collection(good, good, feature(geometry_, n=3)), GEOJSON)
    assert caught.value.extra["row"] == 3
    assert caught.value.extra["column"] == "geometry"


def test_vertex_cap(load: Load, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(geometry, "MAX_VERTICES", 1000)
    line = [[i / 1000, 0.0] for i in range(1001)]
    with pytest.raises(InvalidData, match="more than 1000 positions"):
        load(collection(feature({"type": "LineString", "coordinates": line})), GEOJSON)


def test_a_large_polygon_loads(load: Load) -> None:
    ring = [[(i % 3600) / 20 - 90, (i % 1800) / 20 - 45] for i in range(60_000)]
    ring.append(ring[0])
    loaded = load(collection(feature({"type": "Polygon", "coordinates": [ring]})), GEOJSON)
    xs, ys = [x for x, _ in ring], [y for _, y in ring]
    assert loaded.column("geometry.bbox") == [(min(xs), min(ys), max(xs), max(ys))]


def test_geometry_collection_and_multi_geometries(load: Load) -> None:
    shapes = {
        "type": "GeometryCollection",
        "geometries": [
            {"type": "MultiPoint", "coordinates": [[1, 2], [3, 4]]},
            {"type": "MultiLineString", "coordinates": [[[0, 0], [1, -1]]]},
            {"type": "MultiPolygon", "coordinates": [SQUARE]},
        ],
    }
    loaded = load(collection(feature(shapes)), GEOJSON)
    assert loaded.column("geometry.bbox") == [(0.0, -1.0, 5.0, 51.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"type": "Feature", "geometry": null, "properties": {}}',
            "Expected a GeoJSON FeatureCollection",
        ),
        ('{"type": "FeatureCollection"}', "no type or features"),
        ('{"type": "FeatureCollection", "features": [{"type": "Point"}]}', "not a GeoJSON Feature"),
        (collection(feature(None, geometry="x")), "clashes with the geometry field"),
        ('{"type": "FeatureCollection", "features": [],}', "expected a member name"),
        ("[]", "a GeoJSON FeatureCollection object"),
    ],
)
def test_not_a_feature_collection(load: Load, text: str, message: str) -> None:
    with pytest.raises(InvalidData, match=message):
        load(text, GEOJSON)


def test_empty_feature_collection_has_only_the_geometry(load: Load) -> None:
    loaded = load(collection(), GEOJSON)
    assert loaded.types == {"geometry": "geojson"}
    assert loaded.result.row_count == 0


def test_given_schema_must_keep_geometry_as_geojson(load: Load) -> None:
    text = collection(feature({"type": "Point", "coordinates": [1, 2]}, n=1))
    schema = {"fields": [{"name": "n", "type": "integer"}, {"name": "geometry", "type": "string"}]}
    with pytest.raises(InvalidData, match="must be geojson"):
        load(text, GEOJSON, schema=schema)
    schema["fields"][1]["type"] = "geometry"
    loaded = load(text, GEOJSON, schema=schema)
    assert loaded.rows == [
        {
            "n": 1,
            "geometry": '{"type":"Point","coordinates":[1,2]}',
            "geometry.bbox": (1.0, 2.0, 1.0, 2.0),
        }
    ]
