"""``view_key``: the key of every cache of answers derived from a reader's view takes in
everything that shapes the answer, and refuses what it does not know."""

from __future__ import annotations

import dataclasses

import pytest

from cityshare.bounds.view import ReadView, restricted
from cityshare.catalogue.table_reads import view_key
from cityshare.query.spec import Filter, RowBounds
from cityshare.tables.model import version_table

SCHEMA = {"fields": [{"name": "plate", "type": "string"}, {"name": "zone", "type": "string"}]}


def test_every_bound_of_a_view_is_in_its_key() -> None:
    table = version_table("dsv_1_1", SCHEMA)
    names = ["plate", "zone"]
    zone = table.fields[1]
    north = RowBounds(filters=(Filter(field=zone, op="eq", value="north", raw="north"),))
    views = [
        ReadView(table=table, bounds=RowBounds()),
        ReadView(table=restricted(table, ["zone"]), bounds=RowBounds()),
        ReadView(
            table=restricted(table, names, frozenset({"plate"}), b"a" * 32), bounds=RowBounds()
        ),
        ReadView(
            table=restricted(table, names, frozenset({"plate"}), b"b" * 32), bounds=RowBounds()
        ),
        ReadView(table=table, bounds=north),
        ReadView(table=table, bounds=RowBounds(min_group_size=5)),
        ReadView(table=table, bounds=RowBounds(), grant_id=7),
        # Another version's table, even one of the same name (a reused SQLite id).
        ReadView(table=version_table("dsv_1_1", SCHEMA), bounds=RowBounds()),
    ]
    keys = [view_key(view) for view in views]
    assert len(set(keys)) == len(views)
    same = ReadView(
        table=restricted(table, names, frozenset({"plate"}), b"a" * 32), bounds=RowBounds()
    )
    assert view_key(same) == keys[2]  # equal views share their answers
    assert b"a" * 32 not in repr(keys[2]).encode()  # only a digest of the key is kept


def test_a_view_attribute_of_an_unknown_kind_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Wider(ReadView):
        extra: object = dataclasses.field(default_factory=object)

    with pytest.raises(TypeError):
        view_key(Wider(table=version_table("dsv_1_1", SCHEMA), bounds=RowBounds()))
