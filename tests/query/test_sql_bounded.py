"""The SQL endpoint's bounded string functions, its byte budget and its pool of threads."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from typing import Any

import pytest
from sqlalchemy import Engine

from cityshare.access import Actor
from cityshare.config import Limits
from cityshare.errors import BadRequest, TooManyRequests
from cityshare.sql.bounded import install_sqlite
from cityshare.sql.guard import run_read_only
from cityshare.sql.parse import parse_statement
from cityshare.sql.pool import SqlBusy, SqlPool, client_address
from cityshare.sql.rewrite import render
from cityshare.storage.engine import time_limited

# Each call's answer from SQLite's own function and from the bounded one must agree.
SAME = [
    ("instr({})", ["'hello', 'll'", "'hello', ''", "'hello', 'z'", "NULL, 'a'", "12345, 34",
                   "'héllo', 'llo'", "X'0102', X'02'", "1.5, '.5'"]),
    ("replace({})", ["'hello', 'l', 'LL'", "'hello', '', 'x'", "'a', NULL, 'b'",
                     "'aaa', 'a', ''", "123, 2, 'x'"]),
    ("trim({})", ["'xxhixx', 'x'", "'  hi ', ' '", "'abcba', 'ab'", "NULL, 'a'", "'hi', ''"]),
    ("ltrim({})", ["'xxhixx', 'x'", "'abc', 'cba'"]),
    ("rtrim({})", ["'xxhixx', 'x'", "'abc', 'cb'"]),
]  # fmt: skip
BOUNDED = {
    "instr": "cityshare_instr({})",
    "replace": "cityshare_replace({})",
    "trim": "cityshare_trim({}, 'both')",
    "ltrim": "cityshare_trim({}, 'leading')",
    "rtrim": "cityshare_trim({}, 'trailing')",
}


@pytest.mark.parametrize(("template", "arguments"), SAME)
def test_bounded_functions_answer_as_sqlite_does(template: str, arguments: list[str]) -> None:
    connection = sqlite3.connect(":memory:")
    install_sqlite(connection, 1024 * 1024)
    name = template.split("(")[0]
    for argument in arguments:
        builtin = connection.execute(f"SELECT {template.format(argument)}").fetchone()
        bounded = connection.execute(f"SELECT {BOUNDED[name].format(argument)}").fetchone()
        assert bounded == builtin, (name, argument)


def test_bounded_functions_are_linear_where_sqlite_is_not() -> None:
    connection = sqlite3.connect(":memory:")
    install_sqlite(connection, 2 * 1024 * 1024)
    haystack, needle = "a" * 1_000_000, "a" * 500_000 + "b"
    started = time.monotonic()
    found = connection.execute(
        "SELECT cityshare_instr(?, ?), length(cityshare_replace(?, ?, 'x')), "
        "length(cityshare_trim(?, ?, 'both'))",
        (haystack, needle, haystack, needle, haystack, "b" * 100_000 + "c"),
    ).fetchone()
    assert found == (0, 1_000_000, 1_000_000)
    assert time.monotonic() - started < 2  # SQLite's own instr alone takes 7 s here
    with pytest.raises(sqlite3.DataError, match="too big"):  # refused before it is built
        connection.execute("SELECT cityshare_replace(?, 'a', ?)", ("a" * 100_000, "b" * 1000))


def test_statements_call_the_bounded_functions(engine: Engine) -> None:
    statement = parse_statement(
        "SELECT instr('ab', 'b') AS i, replace('ab', 'b', 'c') AS r, trim('xax', 'x') AS t, "
        "'ab' LIKE 'a%' AS l, 'ab' NOT ILIKE 'A!%' ESCAPE '!' AS n"
    )
    rendered = render(statement, {}, engine.dialect.name, 11)
    assert "cityshare_instr" in rendered.sql.lower()
    answer = run_read_only(time_limited(engine, 5), rendered, 10)
    assert answer.rows == [[2, "ac", "a", True, True]]  # SQLite's 1 equals True


def test_costly_calls_are_refused_or_cut(engine: Engine) -> None:
    a6 = "replace(replace(replace(replace(replace('aaaaaaaaaa', 'a', 'aaaaaaaaaa'), 'a', "
    a6 += "'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa'), 'a', 'aaaaaaaaaa')"
    statement = parse_statement(f"SELECT instr({a6}, substr({a6}, 1, 500000) || 'b') AS i")
    rendered = render(statement, {}, engine.dialect.name, 11)
    started = time.monotonic()
    try:
        answer = run_read_only(time_limited(engine, 5), rendered, 10)
    except BadRequest as error:  # PostgreSQL: the lengths multiply past the bound
        assert engine.dialect.name == "postgresql"
        assert "time limit" in error.detail
    else:
        assert answer.rows == [[0]]
    assert time.monotonic() - started < 3
    for built in (f"replace({a6}, 'a', 'aaaaaaaaaa')", f"{a6} || {a6}", f"1 || {a6} || {a6}"):
        statement = parse_statement(f"SELECT {built} AS x")
        rendered = render(statement, {}, engine.dialect.name, 11)
        with pytest.raises(BadRequest, match="too big"):  # past the 1 MiB value cap
            run_read_only(time_limited(engine, 5), rendered, 10)
    mixed = parse_statement("SELECT 'a' || 1 || 2.5 || NULL AS n, 'a' || 1 || 2.5 AS x")
    answer = run_read_only(time_limited(engine, 5), render(mixed, {}, engine.dialect.name, 2), 1)
    assert answer.rows == [[None, "a12.5"]]


def test_answers_stop_at_their_byte_budget(engine: Engine) -> None:
    statement = parse_statement(
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100) "
        "SELECT replace('aaaaaaaaaa', 'a', 'aaaaaaaaaa') || n AS x FROM r"
    )
    rendered = render(statement, {}, engine.dialect.name, 51)
    answer = run_read_only(time_limited(engine, 5), rendered, 50, max_bytes=1000)
    assert answer.truncated_by == "bytes"
    assert 5 <= len(answer.rows) < 10
    answer = run_read_only(time_limited(engine, 5), rendered, 50)
    assert (len(answer.rows), answer.truncated_by) == (50, "rows")
    few = render(statement, {}, engine.dialect.name, 101)
    answer = run_read_only(time_limited(engine, 5), few, 100)
    assert (len(answer.rows), answer.truncated_by) == (100, None)


def _pool(**limits: Any) -> SqlPool:
    return SqlPool(Limits(sql_threads=3, sql_per_address=1, sql_per_actor=2, **limits))


def test_the_pool_caps_callers_and_threads() -> None:
    pool = SqlPool(Limits(sql_threads=3, sql_per_address=1, sql_per_actor=2, query_seconds=7))
    release = threading.Event()
    anonymous, member = Actor(), Actor(user_id=1, username="member")

    async def outcome(actor: Actor, address: str) -> object:
        try:
            return await pool.run(actor, address, lambda: "ran")
        except (TooManyRequests, SqlBusy) as error:
            return error

    async def scenario() -> list[object]:
        held = [
            asyncio.ensure_future(pool.run(anonymous, "10.0.0.1", release.wait, 10)),
            asyncio.ensure_future(pool.run(member, "10.0.0.1", release.wait, 10)),
        ]
        await asyncio.sleep(0.1)
        outcomes = [
            await outcome(anonymous, "10.0.0.1"),  # the address runs its one statement
            await outcome(member, "10.0.0.1"),  # a signed-in actor may run two
            await outcome(anonymous, "10.0.0.2"),
        ]
        held.append(asyncio.ensure_future(pool.run(anonymous, "10.0.0.3", release.wait, 10)))
        await asyncio.sleep(0.1)
        outcomes.append(await outcome(anonymous, "10.0.0.4"))  # three threads are busy
        release.set()
        await asyncio.gather(*held)
        outcomes.append(await outcome(anonymous, "10.0.0.1"))  # slots are given back
        return outcomes

    outcomes = asyncio.run(scenario())
    pool.shutdown()
    capped, member_ran, other_ran, busy, again = outcomes
    assert isinstance(capped, TooManyRequests) and capped.retry_after == 7
    assert (member_ran, other_ran, again) == ("ran", "ran", "ran")
    assert isinstance(busy, SqlBusy) and busy.status == 503 and busy.retry_after == 7


def test_client_addresses_count_by_ipv6_network() -> None:
    assert client_address("2001:db8::1") == client_address("2001:db8::ffff") == "2001:db8::/64"
    assert client_address("::ffff:10.0.0.1") == "10.0.0.1"
    assert client_address("10.0.0.1") == "10.0.0.1"
    assert client_address(None) is None
