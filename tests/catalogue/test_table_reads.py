"""catalogue.versions.open_version and catalogue.table_reads: reading a dataset's rows as
a service — the version the reader may read, within their bounds, audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityshare.catalogue import datasets, table_reads, versions
from cityshare.catalogue.reader import Reader, VersionTableCache
from cityshare.errors import BadRequest, Forbidden, NotFound
from cityshare.runtime import Runtime
from tests.catalogue.support import actor, last_audit, store_state, write_file
from tests.search.support import grant_to, make_dataset
from tests.world import World

COLUMNS = ["junction", "counted_at", "cars", "speed", "note"]
CSV_V2 = "junction,cars\nJ9,7\n"


@pytest.fixture
def reader(runtime: Runtime) -> Reader:
    """What the read paths share (conftest's ``runtime`` is the one ``world`` is built on)."""
    return runtime.reader


def read(reader: Reader, world: World, who: str, name: str, **params: str) -> dict[str, object]:
    """The JSON answer actor ``who`` gets for ``params``."""
    return table_reads.read_json(reader, actor(world, who), name, list(params.items()))


def make_note_personal(world: World, name: str = "open-counts") -> None:
    changes = {"column_classes": {"note": "personal"}}
    datasets.update_dataset(world.site, actor(world, "admin"), name, changes)


# --- read_json -----------------------------------------------------------------------------


def test_an_owner_reads_every_row_and_column(world: World, reader: Reader) -> None:
    answer = read(reader, world, "member", "private-counts")
    assert answer["version"] == 1
    rows = answer["rows"]
    assert isinstance(rows, list) and len(rows) == 3
    assert list(rows[0]) == COLUMNS
    assert rows[0]["cars"] == 120 and rows[0]["counted_at"] == "2024-03-04T08:00:00Z"


def test_the_public_read_an_open_dataset_without_its_personal_columns(
    world: World, reader: Reader
) -> None:
    make_note_personal(world)
    rows = read(reader, world, "anonymous", "open-counts")["rows"]
    assert isinstance(rows, list) and len(rows) == 3
    assert all(list(row) == COLUMNS[:4] for row in rows)
    with pytest.raises(BadRequest):  # not even a filter may name it
        read(reader, world, "anonymous", "open-counts", note="morning")
    owned = read(reader, world, "member", "open-counts", note="morning")["rows"]
    assert owned == [
        {
            "junction": "J1",
            "counted_at": "2024-03-04T08:00:00Z",
            "cars": 120,
            "speed": 31.5,
            "note": "morning",
        }
    ]


def test_filters_sorting_and_limits_apply(world: World, reader: Reader) -> None:
    answer = read(reader, world, "anonymous", "open-counts", cars__gte="90", _sort="-cars")
    assert [row["cars"] for row in answer["rows"]] == [120, 95]  # type: ignore[union-attr]
    page = read(reader, world, "anonymous", "open-counts", _limit="1", _count="true")
    assert (len(page["rows"]), page["total"]) == (1, 3)  # type: ignore[arg-type]
    assert page["next"]


def test_an_older_version_is_read_by_number(world: World, reader: Reader, tmp_path: Path) -> None:
    source = write_file(tmp_path, "v2.csv", CSV_V2)
    editor = actor(world, "editor")
    versions.publish_version(
        world.site, editor, "open-counts", source=source, media_type="text/csv"
    )
    current = read(reader, world, "anonymous", "open-counts")
    assert (current["version"], current["rows"]) == (2, [{"junction": "J9", "cars": 7}])
    old = read(reader, world, "anonymous", "open-counts", _version="1")
    assert old["version"] == 1 and len(old["rows"]) == 3  # type: ignore[arg-type]


@pytest.mark.parametrize("number", ["x", "0", "-1", "1.0", "2147483648", ""])
def test_a_malformed_version_number_is_refused(world: World, reader: Reader, number: str) -> None:
    with pytest.raises(BadRequest) as refused:
        read(reader, world, "admin", "open-counts", _version=number)
    assert refused.value.extra["parameter"] == "_version"


def test_a_version_that_does_not_exist_is_not_found(world: World, reader: Reader) -> None:
    with pytest.raises(NotFound, match="no version 2"):
        read(reader, world, "admin", "open-counts", _version="2")


@pytest.mark.parametrize(
    ("who", "name", "error"),
    [
        ("anonymous", "shared-counts", NotFound),
        ("anonymous", "private-counts", NotFound),
        ("outsider", "private-counts", NotFound),
        ("outsider", "shared-counts", Forbidden),  # seen, but its rows are not theirs
        ("admin", "no-such-counts", NotFound),
    ],
)
def test_a_reader_without_the_right_reads_nothing(
    world: World, runtime: Runtime, who: str, name: str, error: type[Exception]
) -> None:
    before = store_state(world.site)
    with pytest.raises(error):
        read(runtime.reader, world, who, name)
    runtime.finish_background_work()
    assert store_state(world.site) == before  # no read recorded either


def test_a_bad_query_is_refused(world: World, reader: Reader) -> None:
    for params in ({"cars__gt": "many"}, {"colour": "red"}, {"_sort": "nowhere"}, {"_limit": "-1"}):
        with pytest.raises(BadRequest):
            read(reader, world, "admin", "open-counts", **params)


def test_every_read_is_audited_with_its_query(world: World, runtime: Runtime) -> None:
    read(runtime.reader, world, "outsider", "open-counts", junction="J1")
    runtime.finish_background_work()
    entry = last_audit(world.site)
    assert entry["action"] == "dataset.read"
    assert entry["resource"] == {"dataset": "open-counts", "version": 1}
    assert entry["detail"] == {"query": "junction=J1", "rows": 2, "format": "json", "grant": None}
    assert entry["actor"]["username"] == "outsider-user"


def test_a_grantee_reads_within_the_grant(world: World, runtime: Runtime) -> None:
    grantee = grant_to(
        world,
        "private-counts",
        "grantee",
        columns=["junction", "cars"],
        row_filter={"junction": "J1"},
    )
    answer = table_reads.read_json(runtime.reader, grantee, "private-counts", [])
    assert answer["rows"] == [{"junction": "J1", "cars": 120}, {"junction": "J1", "cars": 95}]
    runtime.finish_background_work()
    assert last_audit(world.site)["detail"]["grant"] is not None


# --- open_version and the version-table cache ---------------------------------------------


def test_open_version_gives_the_readers_view(world: World) -> None:
    make_note_personal(world)
    public = versions.open_version(world.site, actor(world, "anonymous"), "open-counts", None)
    owned = versions.open_version(world.site, actor(world, "member"), "open-counts", 1)
    assert (public.number, public.dataset_name, public.grant_id) == (1, "open-counts", None)
    assert [field.name for field in public.view.table.fields] == COLUMNS[:4]
    assert [field.name for field in owned.view.table.fields] == COLUMNS
    assert public.table.table.name == owned.table.table.name  # one stored table


def test_open_version_refuses_what_the_reader_may_not_read(world: World) -> None:
    make_dataset(world, "empty-table", visibility="open")
    cases = [
        ("outsider", "shared-counts", None, Forbidden),
        ("anonymous", "private-counts", None, NotFound),
        ("admin", "open-counts", 5, NotFound),
        ("anonymous", "empty-table", None, NotFound),
    ]
    for who, name, number, error in cases:
        with pytest.raises(error):
            versions.open_version(world.site, actor(world, who), name, number)


def test_a_cached_version_table_is_reused(world: World) -> None:
    cache = VersionTableCache()
    admin, anonymous = actor(world, "admin"), actor(world, "anonymous")
    first = versions.open_version(world.site, admin, "open-counts", None, tables=cache)
    again = versions.open_version(world.site, anonymous, "open-counts", 1, tables=cache)
    assert again.table is first.table
    uncached = versions.open_version(world.site, admin, "open-counts", None)
    assert uncached.table is not first.table  # built again without a cache
    assert uncached.table.fields == first.table.fields


def test_the_view_key_tells_readers_views_apart(world: World) -> None:
    make_note_personal(world)
    cache = VersionTableCache()

    def key(who: str) -> tuple[object, ...]:
        opened = versions.open_version(
            world.site, actor(world, who), "open-counts", None, tables=cache
        )
        return table_reads.view_key(opened.view)

    assert key("anonymous") == key("outsider")  # both read the public columns
    assert key("member") == key("admin")
    assert key("anonymous") != key("member")


def test_version_number_reads_the_version_parameter() -> None:
    assert table_reads.version_number([("cars", "1")]) is None
    assert table_reads.version_number([("_version", "3"), ("_version", "4")]) == 3


@pytest.mark.parametrize("number", ["³", "²5"])
def test_a_version_number_of_other_digits_is_refused(number: str) -> None:
    with pytest.raises(BadRequest):
        table_reads.version_number([("_version", number)])
