"""Paging benchmark: the page at row 9 000 000 against the first page (keyset cursors).

Builds a narrow dataset (default 9 100 000 rows: ``seq`` integer = row number,
``station`` text, ``reading`` number; cityshare indexes every column as
``(column, _id)``) on a SQLite site in a temporary folder, serves it with
``cityshare serve --workers 1`` and times, over HTTP on 127.0.0.1 with one
keep-alive client, ``_limit=100`` pages:

* ``first`` — ``GET /api/v1/datasets/readings/rows?_limit=100``;
* ``deep`` — the same with ``_next=<cursor after row 9 000 000>``.

How the deep cursor is obtained (both legitimate, both checked):

* default order (``_id``): by walking the ``next`` chain with ``_limit=10000`` (the
  largest page), 900 requests — the cursor is bound to the filters and sort, not to
  the page size, so it then serves ``_limit=100`` pages;
* ``_sort=reading`` (an indexed column in random order): the row at position
  9 000 000 in that order is looked up once in SQLite (``ORDER BY c2, _id LIMIT 1
  OFFSET 8999999``) and its cursor is made in-process by ``QueryPlan.cursor_after``
  — the very method the server uses for ``next`` (same site secret, same binding).
  Checked: the server's own ``next`` of the first sorted page equals the cursor
  made the same way, the walked default-order cursor equals the constructed one,
  and each deep page starts with the expected row.

Each page is timed ``--repeats`` times (default 30), first and deep alternating;
medians are compared (target: deep / first <= 1.5). The same pages are also timed
in-process through the query module (``plan_query`` + ``run_json``), and raw SQLite
``LIMIT 100 OFFSET 9000000`` is timed to show what OFFSET paging would cost.

Loading: ``--load publish`` (default) writes a CSV and publishes it through
``publish_version``; ``--load sql`` publishes a 1000-row seed file the same way and
appends the other rows with one INSERT ... SELECT (indexes dropped and rebuilt with
their own definitions), for a quick build of the very same table.

Run: ``python benchmarks/bench_paging.py`` (full size) or
``python benchmarks/bench_paging.py --rows 200000 --deep-row 150000`` (quick).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    CitySite,
    QuietWaiter,
    Server,
    check_loader,
    format_table,
    free_port,
    log,
    make_city_site,
    median,
    publish_open_dataset,
    running,
    stop_on_sigterm,
    temp_folder,
    verdict,
    version_table_name,
)

DATASET = "readings"
PAGE = 100
WALK_PAGE = 10_000
TARGET_RATIO = 1.5
SEED_ROWS = 1000
STATIONS = 500
SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "seq", "type": "integer"},
        {"name": "station", "type": "string"},
        {"name": "reading", "type": "number"},
    ]
}
ROWS_PATH = f"/api/v1/datasets/{DATASET}/rows"


# --------------------------------------------------------------------------- data


def row_values(seq: int) -> tuple[int, str, float]:
    """Row ``seq`` (1-based); the SQL fill computes exactly the same values."""
    return seq, f"S{seq % STATIONS:03d}", ((seq * 7919) % 100003) / 100


def write_csv(path: Path, rows: int) -> None:
    with path.open("w") as handle:
        handle.write("seq,station,reading\n")
        chunk: list[str] = []
        for seq in range(1, rows + 1):
            number, station, reading = row_values(seq)
            chunk.append(f"{number},{station},{reading!r}\n")
            if len(chunk) == 100_000:
                handle.write("".join(chunk))
                chunk.clear()
        handle.write("".join(chunk))


def fill_by_sql(db_path: Path, table: str, rows: int) -> None:
    """Append rows SEED_ROWS+1..rows to the published seed table, as the loader would."""
    connection = sqlite3.connect(db_path, isolation_level=None)
    try:
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (table,),
        ).fetchall()
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-1000000")
        connection.execute("BEGIN IMMEDIATE")
        for name, _sql in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        connection.execute(
            f"WITH RECURSIVE n(seq) AS (SELECT {SEED_ROWS + 1} UNION ALL "
            f"SELECT seq + 1 FROM n WHERE seq < {rows}) "
            f"INSERT INTO {table} (_id, c0, c1, c2) "
            f"SELECT seq, seq, printf('S%03d', seq % {STATIONS}), "
            f"((seq * 7919) % 100003) / 100.0 FROM n"
        )
        for _name, sql in indexes:
            connection.execute(sql)
        connection.execute(
            "UPDATE dataset_versions SET row_count = ? WHERE table_name = ?", (rows, table)
        )
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def build(folder: Path, rows: int, load: str) -> tuple[CitySite, str]:
    city = make_city_site(folder / "site", None)
    source = folder / "readings.csv"
    t0 = time.monotonic()
    if load == "publish":
        write_csv(source, rows)
        log(
            f"wrote {rows:,} rows ({source.stat().st_size / 1e6:.0f} MB) in "
            f"{time.monotonic() - t0:.1f} s"
        )
        t0 = time.monotonic()
        publish_open_dataset(city, DATASET, source, SCHEMA)
        log(f"published in {time.monotonic() - t0:.1f} s")
    else:
        write_csv(source, min(rows, SEED_ROWS))
        publish_open_dataset(city, DATASET, source, SCHEMA)
        table = version_table_name(city, DATASET)
        city.site.engine.dispose()
        if rows > SEED_ROWS:
            fill_by_sql(city.data_dir / "cityshare.db", table, rows)
        log(f"seed published and filled by SQL in {time.monotonic() - t0:.1f} s")
    source.unlink()
    return city, version_table_name(city, DATASET)


# --------------------------------------------------------------------------- cursors


_OPENED: dict[int, Any] = {}


def make_plan(city: CitySite, pairs: list[tuple[str, str]]) -> Any:
    """``plan_query`` as the route calls it (the opened version is looked up once)."""
    from cityshare.catalogue.versions import open_version
    from cityshare.query import CursorSigner, plan_query

    opened = _OPENED.get(id(city))
    if opened is None:
        opened = _OPENED[id(city)] = open_version(city.site, city.admin, DATASET, None)
    return plan_query(
        pairs,
        opened.table,
        limits=city.site.settings.limits,
        signer=CursorSigner(city.site.secret_key),
        scope=opened.table.table.name,
    )


def constructed_cursor(
    city: CitySite, sort: str | None, values: tuple[Any, ...], row_id: int
) -> str:
    """The cursor after row ``row_id`` (sort key ``values``), made as the server makes it."""
    pairs = [("_limit", str(PAGE))] + ([("_sort", sort)] if sort else [])
    return str(make_plan(city, pairs).cursor_after(values, row_id))


def row_at(db_path: Path, table: str, order: str, position: int) -> tuple[Any, int, int]:
    """``(first sort column, _id, seq)`` of the row at 1-based ``position`` in ``order``
    (an OFFSET scan: slow, done once)."""
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        value, row_id, seq = connection.execute(
            f"SELECT {order.split(',')[0]}, _id, c0 FROM {table} ORDER BY {order} "
            f"LIMIT 1 OFFSET {position - 1}"
        ).fetchone()
    finally:
        connection.close()
    return value, int(row_id), int(seq)


def walk(client: httpx.Client, pages: int, budget: float) -> tuple[str | None, float, int]:
    """Follow ``next`` with _limit=10000 for ``pages`` pages (within ``budget`` seconds)."""
    began = time.monotonic()
    cursor: str | None = None
    done = 0
    for _ in range(pages):
        params = {"_limit": str(WALK_PAGE)}
        if cursor is not None:
            params["_next"] = cursor
        response = client.get(ROWS_PATH, params=params)
        response.raise_for_status()
        cursor = orjson.loads(response.content)["next"]
        done += 1
        if cursor is None or time.monotonic() - began > budget:
            break
    return cursor, time.monotonic() - began, done


# --------------------------------------------------------------------------- timing


def time_alternating(
    calls: dict[str, Callable[[], Any]], repeats: int, warmup: int = 5
) -> dict[str, list[float]]:
    """Milliseconds per call, the calls interleaved round by round."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - t0) * 1000)
    return times


def http_page(
    client: httpx.Client, sort: str | None, cursor: str | None, expect_seq: int | None
) -> Callable[[], Any]:
    params = {"_limit": str(PAGE)}
    if sort:
        params["_sort"] = sort
    if cursor:
        params["_next"] = cursor

    def call() -> Any:
        response = client.get(ROWS_PATH, params=params)
        response.raise_for_status()
        return response.content

    body = orjson.loads(call())
    if len(body["rows"]) != PAGE:
        raise RuntimeError(f"page of {len(body['rows'])} rows for {params}")
    if expect_seq is not None and body["rows"][0]["seq"] != expect_seq:
        raise RuntimeError(f"page starts at seq {body['rows'][0]['seq']}, not {expect_seq}")
    return call


def inprocess_page(city: CitySite, sort: str | None, cursor: str | None) -> Callable[[], Any]:
    from cityshare.query import run_json

    pairs = [("_limit", str(PAGE))]
    if sort:
        pairs.append(("_sort", sort))
    if cursor:
        pairs.append(("_next", cursor))

    def call() -> Any:
        plan = make_plan(city, pairs)
        with city.site.engine.connect() as connection:
            return run_json(connection, plan)

    return call


def _median_ms(connection: sqlite3.Connection, sql: str, params: tuple[Any, ...], n: int) -> float:
    connection.execute(sql, params).fetchall()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        rows = connection.execute(sql, params).fetchall()
        samples.append((time.perf_counter() - t0) * 1000)
    if len(rows) != PAGE:
        raise RuntimeError(f"{sql} gave {len(rows)} rows")
    return statistics.median(samples)


def raw_sql_timing(
    db_path: Path, table: str, order: str, deep: int, after: tuple[Any, ...], repeats: int
) -> dict[str, float]:
    """Median ms of raw sqlite3 pages in ``order`` (``_id`` or ``c2, _id``): OFFSET 0,
    OFFSET ``deep``, and the keyset page after the row ``after`` (row-value compare)."""
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        columns = f"SELECT c0, c1, c2, _id FROM {table}"
        paged = f"{columns} ORDER BY {order} LIMIT {PAGE} OFFSET ?"
        keyset = f"{columns} WHERE ({order}) > ({', '.join('?' * len(after))}) "
        keyset += f"ORDER BY {order} LIMIT {PAGE}"
        return {
            "first": _median_ms(connection, paged, (0,), max(repeats, 20)),
            "deep": _median_ms(connection, paged, (deep,), repeats),
            "keyset_deep": _median_ms(connection, keyset, after, max(repeats, 20)),
        }
    finally:
        connection.close()


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=9_100_000, help="rows in the dataset")
    parser.add_argument("--deep-row", type=int, default=9_000_000, help="the deep page's row")
    parser.add_argument("--repeats", type=int, default=30, help="timed requests per page")
    parser.add_argument("--offset-repeats", type=int, default=3, help="timed OFFSET queries")
    parser.add_argument("--load", choices=("publish", "sql"), default="publish")
    parser.add_argument("--walk-budget", type=float, default=120.0, help="seconds for the walk")
    parser.add_argument("--workers", type=int, default=1, help="cityshare serve workers")
    parser.add_argument("--duration", type=float, default=None, help="(unused; for symmetry)")
    parser.add_argument("--skip-postgres", action="store_true", help="(SQLite only; no-op)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before timing, wait up to this many seconds for the machine to be idle",
    )
    parser.add_argument("--json", type=Path, default=None, help="write all results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    if args.deep_row % WALK_PAGE or args.deep_row + 2 * PAGE > args.rows:
        raise SystemExit("--deep-row must be a multiple of 10000, at least 200 rows from the end")
    check_loader()
    began = time.monotonic()
    with temp_folder("cityshare-bench-paging-", keep=args.keep) as folder:
        city, table = build(folder, args.rows, args.load)
        try:
            report = run(folder, city, table, args)
        finally:
            city.close()
    print(report["table"])
    log(f"total time {time.monotonic() - began:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if report["all_pass"] else 1


def run(folder: Path, city: CitySite, table: str, args: argparse.Namespace) -> dict[str, Any]:
    db_path = city.data_dir / "cityshare.db"
    deep = args.deep_row
    # The deep rows: default order is _id (= seq); _sort=reading needs a look-up.
    t0 = time.monotonic()
    _, id_row, _ = row_at(db_path, table, "_id", deep)
    _, _, id_next_seq = row_at(db_path, table, "_id", deep + 1)
    reading_value, reading_id, _ = row_at(db_path, table, "c2, _id", deep)
    _, _, reading_next_seq = row_at(db_path, table, "c2, _id", deep + 1)
    log(
        f"row {deep:,}: _id {id_row}; by reading: ({reading_value}, _id {reading_id}) "
        f"[looked up in {time.monotonic() - t0:.1f} s]"
    )
    cursors = {
        "id": constructed_cursor(city, None, (), id_row),
        "reading": constructed_cursor(city, "reading", (reading_value,), reading_id),
    }
    port = free_port()
    server = Server(
        "cityshare",
        ["cityshare", "serve", "--port", str(port), "--workers", str(args.workers)],
        port,
        folder / "cityshare.log",
        env=city.env(),
    )
    with (
        running(server, f"{ROWS_PATH}?_limit=1", timeout=90),
        httpx.Client(base_url=server.base_url, timeout=60) as client,
    ):
        # 1. a legitimate cursor for row `deep` by walking the chain.
        walked, walk_seconds, walk_pages = walk(client, deep // WALK_PAGE, args.walk_budget)
        walk_ok = walk_pages == deep // WALK_PAGE and walked == cursors["id"]
        log(
            f"walked {walk_pages} pages of {WALK_PAGE} in {walk_seconds:.1f} s; "
            f"cursor {'matches' if walked == cursors['id'] else 'DIFFERS from'} the constructed one"
        )
        if walked is not None and walk_pages == deep // WALK_PAGE:
            cursors["id"] = walked
        # 2. the server's own `next` for a sorted page equals the constructed cursor.
        first_sorted = orjson.loads(
            client.get(ROWS_PATH, params={"_limit": str(PAGE), "_sort": "reading"}).content
        )
        last = first_sorted["rows"][-1]
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as connection:
            (last_id,) = connection.execute(
                f"SELECT _id FROM {table} ORDER BY c2, _id LIMIT 1 OFFSET {PAGE - 1}"
            ).fetchone()
        sorted_ok = first_sorted["next"] == constructed_cursor(
            city, "reading", (last["reading"],), last_id
        )
        log(
            f"server's next for _sort=reading {'matches' if sorted_ok else 'DIFFERS from'} "
            "the constructed cursor"
        )
        # 3. time first vs deep pages over HTTP, alternating.
        busy = QuietWaiter(args.quiet_wait, per_run=args.quiet_wait).wait()
        log(f"machine {busy:.0%} busy before timing")
        calls = {
            "id first": http_page(client, None, None, 1),
            "id deep": http_page(client, None, cursors["id"], id_next_seq),
            "reading first": http_page(client, "reading", None, None),
            "reading deep": http_page(client, "reading", cursors["reading"], reading_next_seq),
        }
        http_times = time_alternating(calls, args.repeats)
    # 4. in-process through the query module.
    local_calls = {
        "id first": inprocess_page(city, None, None),
        "id deep": inprocess_page(city, None, cursors["id"]),
        "reading first": inprocess_page(city, "reading", None),
        "reading deep": inprocess_page(city, "reading", cursors["reading"]),
    }
    local_times = time_alternating(local_calls, max(args.repeats, 50))
    # 5. what OFFSET would cost.
    log("timing raw OFFSET queries")
    offsets = {
        "id": raw_sql_timing(db_path, table, "_id", deep, (id_row,), args.offset_repeats),
        "reading": raw_sql_timing(
            db_path, table, "c2, _id", deep, (reading_value, reading_id), args.offset_repeats
        ),
    }
    walked_info = {"seconds": walk_seconds, "pages": walk_pages, "matches": walk_ok}
    return summarise(args, http_times, local_times, offsets, walked_info, sorted_ok)


def summarise(
    args: argparse.Namespace,
    http_times: dict[str, list[float]],
    local_times: dict[str, list[float]],
    offsets: dict[str, dict[str, float]],
    walk: dict[str, Any],
    sorted_ok: bool,
) -> dict[str, Any]:
    walk_seconds, walk_pages, walk_ok = walk["seconds"], walk["pages"], walk["matches"]
    rows = []
    data = []
    all_pass = True  # the targets; the cursor checks are reported beside them
    for order, label in (("id", "default (_id)"), ("reading", "_sort=reading")):
        first = median(http_times[f"{order} first"])
        deep = median(http_times[f"{order} deep"])
        ratio = deep / first
        ok = ratio <= TARGET_RATIO
        all_pass = all_pass and ok
        local_first = median(local_times[f"{order} first"])
        local_deep = median(local_times[f"{order} deep"])
        rows.append(
            [
                label,
                first,
                deep,
                f"{ratio:.2f}x",
                verdict(ok),
                local_first,
                local_deep,
                f"{local_deep / local_first:.2f}x",
                offsets[order]["first"],
                offsets[order]["deep"],
                offsets[order]["keyset_deep"],
                f"{offsets[order]['deep'] / offsets[order]['keyset_deep']:,.0f}x",
            ]
        )
        data.append(
            {
                "order": label,
                "http_first_ms": first,
                "http_deep_ms": deep,
                "ratio": ratio,
                "pass": ok,
                "inprocess_first_ms": local_first,
                "inprocess_deep_ms": local_deep,
                "offset_first_ms": offsets[order]["first"],
                "offset_deep_ms": offsets[order]["deep"],
                "raw_keyset_deep_ms": offsets[order]["keyset_deep"],
                "http_samples_ms": {
                    "first": http_times[f"{order} first"],
                    "deep": http_times[f"{order} deep"],
                },
            }
        )
    headers = [
        "order",
        "HTTP first ms",
        f"HTTP row {args.deep_row:,} ms",
        "deep/first",
        f"<= {TARGET_RATIO:g}x",
        "in-proc first ms",
        "in-proc deep ms",
        "in-proc deep/first",
        "SQL OFFSET 0 ms",
        f"SQL OFFSET {args.deep_row:,} ms",
        "SQL keyset deep ms",
        "OFFSET/keyset",
    ]
    title = (
        f"Paging benchmark: {args.rows:,} rows (SQLite, loaded by {args.load}); "
        f"_limit={PAGE}; medians of {args.repeats} HTTP requests per page (one keep-alive "
        f"client, cityshare serve --workers {args.workers}), in-process medians of "
        f"{max(args.repeats, 50)}, raw sqlite3 medians (OFFSET deep: {args.offset_repeats} runs). "
        f"Deep cursor: walked {walk_pages} pages of {WALK_PAGE:,} in {walk_seconds:.1f} s "
        f"(matches constructed: {walk_ok}); server next == constructed for _sort: {sorted_ok}."
    )
    return {
        "table": title + "\n\n" + format_table(headers, rows),
        "results": data,
        "walk_seconds": walk_seconds,
        "walk_pages": walk_pages,
        "walk_matches": walk_ok,
        "sorted_cursor_matches": sorted_ok,
        "all_pass": all_pass,
    }


if __name__ == "__main__":
    raise SystemExit(main())
