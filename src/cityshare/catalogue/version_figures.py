"""Whole-table figures of a version (``row_count``, ``byte_size``, ``sha256``), shown to
a reader only as far as their bounds would let them compute the figure themselves.

- ``row_count`` counts every row: shown to readers of every row (owners, readers of open
  data, grantees without a row filter), not to a grantee whose rows are filtered, nor to
  someone who may see the dataset but not read its data.
- ``byte_size`` and ``sha256`` describe the uploaded file, every column and row of it: a
  hash of a file with hidden values would confirm guesses of them, and its size tells
  their length. Shown only to readers of every column, in the clear, and of every row.

A figure not shown is left out of the answer (not computed within the bounds: counting
each version under a grant's filter would be a scan per version on every listing; the
reader counts their rows with ``_count=true``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cityshare.access import Actor, DatasetResource, allowed, reads_whole_dataset
from cityshare.bounds.view import PSEUDONYM_PROPERTY, visible_schema

ROWS = frozenset({"row_count"})
WHOLE_FILE = frozenset({"row_count", "byte_size", "sha256"})


def rows_are_bounded(actor: Actor, dataset: DatasetResource) -> bool:
    """Whether ``actor`` reads fewer than all rows of ``dataset``: a grant's row filter,
    or no right to read the data at all."""
    if reads_whole_dataset(actor, dataset):
        return False
    if not allowed(actor, "dataset.read", dataset):
        return True
    grant = actor.grant_for(dataset.id)
    return grant is not None and bool(grant.row_filter)


def shown_figures(
    actor: Actor,
    dataset: DatasetResource,
    schema: Mapping[str, Any] | None,
    classes: Mapping[str, str] | None,
) -> frozenset[str]:
    """The whole-table figures of a version with ``schema`` that ``actor`` may see
    (``schema`` None: decide on rows alone, showing at most the row count)."""
    if reads_whole_dataset(actor, dataset):
        return WHOLE_FILE
    if rows_are_bounded(actor, dataset):
        return frozenset()
    if schema is None:
        return ROWS
    return WHOLE_FILE if _every_column_clear(actor, dataset, schema, classes) else ROWS


def within_bounds(summary: dict[str, Any], shown: frozenset[str]) -> dict[str, Any]:
    """``summary`` (a version's) without the whole-table figures not ``shown``."""
    return {key: value for key, value in summary.items() if key in shown or key not in WHOLE_FILE}


def _every_column_clear(
    actor: Actor,
    dataset: DatasetResource,
    schema: Mapping[str, Any],
    classes: Mapping[str, str] | None,
) -> bool:
    """Whether ``actor`` reads every field of ``schema``, none as pseudonyms."""
    everything = [str(spec.get("name")) for spec in schema.get("fields", [])]
    visible = visible_schema(actor, dataset, schema, classes)["fields"]
    clear = [str(spec.get("name")) for spec in visible if not spec.get(PSEUDONYM_PROPERTY)]
    return clear == everything
