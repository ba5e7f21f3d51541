"""Small helpers shared by the query tests."""

from __future__ import annotations

from typing import Any

import pytest

from cityshare.errors import BadRequest
from cityshare.query import run_json
from tests.query.data import Dataset


def run(dataset: Dataset, params: list[tuple[str, str]], **kwargs: Any) -> dict[str, Any]:
    """plan_query then run_json on the dataset's engine."""
    plan = dataset.plan(params, **kwargs)
    with dataset.engine.connect() as connection:
        return run_json(connection, plan)


def bad(
    dataset: Dataset, params: list[tuple[str, str]], parameter: str | None = None
) -> BadRequest:
    """Assert that planning ``params`` is a 400 naming ``parameter``; return the error."""
    with pytest.raises(BadRequest) as caught:
        dataset.plan(params)
    error = caught.value
    assert error.status == 400
    if parameter is not None:
        assert error.extra.get("parameter") == parameter, error.extra
    return error
