"""Query benchmark: 100 rows filtered by an indexed column, 16 concurrent clients.

Builds a realistic traffic-count table (default 1 000 000 rows, ~1000 junctions, so
~1000 rows per ``junction_id``) in a temporary folder, then measures with ``wrk``
(``-t2 -c16``, rotating the filter value over all junctions) the requests/s and
latency of:

* ``cityshare`` — ``cityshare serve --workers N`` on its SQLite store,
  ``GET /api/v1/datasets/traffic/rows?junction_id=J0123&_limit=100``;
* ``datasette`` — the same rows in a plain table ``counts`` with an index on
  ``junction_id``, ``GET /bench/counts.json?junction_id=J0123&_size=100``, default
  settings (num_sql_threads=3, suggest_facets on, a filtered count per page);
  1 worker: ``datasette serve``; N>1 workers: the same Datasette app under
  ``uvicorn --workers N`` (``datasette serve`` has no workers option);
* ``starlette`` — a minimal Starlette endpoint (:func:`starlette_app`) served by
  uvicorn with the same worker count, running cityshare's own SQL on cityshare's
  SQLite file with the ``sqlite3`` module (one connection per worker, called
  directly from the async endpoint) and returning JSON with orjson;
* ``cityshare-pg`` — cityshare on PostgreSQL (fresh database, dropped afterwards);
  reported separately.

Every server runs alone (one at a time), with uvicorn's defaults and its access log
on (as ``cityshare serve`` has it), on 127.0.0.1. Each (server, workers) pair is
measured ``--repeats`` times, interleaved round by round; medians are reported.

Run: ``python benchmarks/bench_query.py`` (full size, ~10 minutes) or
``python benchmarks/bench_query.py --rows 100000 --duration 3 --repeats 1
--skip-postgres`` for a quick check.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sqlite3
import sys
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH_DIR,
    HOST,
    CitySite,
    QuietWaiter,
    Server,
    WrkResult,
    check_loader,
    format_table,
    free_port,
    http_get_json,
    log,
    make_city_site,
    median,
    postgres_available,
    postgres_database,
    process_cpu_seconds,
    publish_open_dataset,
    run_wrk,
    running,
    stop_on_sigterm,
    temp_folder,
    verdict,
    version_table_name,
    wrk_available,
)
from profiling import profile_cityshare

DATASET = "traffic"
KINDS = ("cityshare", "datasette", "datasette-lean", "starlette", "cityshare-pg")
DATASETTE_DB = "bench"
DATASETTE_TABLE = "counts"
FILTER = "junction_id"
JUNCTIONS = 1000
PAGE = 100
TARGET_VS_DATASETTE = 5.0
TARGET_VS_STARLETTE = 2.0
TARGET_P99_MS = 20.0

SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "junction_id", "type": "string"},
        {"name": "counted_at", "type": "datetime"},
        {"name": "direction", "type": "string"},
        {"name": "cars", "type": "integer"},
        {"name": "trucks", "type": "integer"},
        {"name": "bikes", "type": "integer"},
        {"name": "avg_speed", "type": "number"},
        {"name": "occupancy", "type": "number"},
        {"name": "note", "type": "string"},
    ]
}
CITYSHARE_PATH = f"/api/v1/datasets/{DATASET}/rows?{FILTER}={{value}}&_limit={PAGE}"
SQLITE_TYPES = {"string": "TEXT", "datetime": "TEXT", "integer": "INTEGER", "number": "REAL"}
# Datasette without its per-request facet suggestions (~40 ms a page here): informative
# only, the targets use Datasette's defaults.
DATASETTE_LEAN = {"suggest_facets": False}
NOTES = ("roadworks", "sensor fault", "event nearby", "school holiday", "heavy rain")


# --------------------------------------------------------------------------- data


def junction(index: int) -> str:
    return f"J{index:04d}"


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    """``rows`` traffic counts: every 15 minutes one count per junction (time order)."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 4)
    directions = "NESW"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([field["name"] for field in SCHEMA["fields"]])
        batch = []
        for row in range(rows):
            tick, junction_index = divmod(row, JUNCTIONS)
            cars = rng.randint(0, 400)
            batch.append(
                (
                    junction(junction_index),
                    (start + timedelta(minutes=15 * tick)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    directions[(row * 7) % 4],
                    cars,
                    cars // rng.randint(5, 30),
                    rng.randint(0, 60),
                    round(rng.uniform(8.0, 70.0), 1),
                    round(rng.random(), 3),
                    NOTES[row % 5] if row % 97 == 0 else "",
                )
            )
            if len(batch) == 10_000:
                writer.writerows(batch)
                batch.clear()
        writer.writerows(batch)


def build_datasette_db(city_db: Path, table: str, target: Path) -> None:
    """A plain table ``counts`` with cityshare's rows (same rowids) and an index on the
    filtered column, in its own SQLite file for Datasette."""
    target.unlink(missing_ok=True)
    connection = sqlite3.connect(target)
    try:
        names = [field["name"] for field in SCHEMA["fields"]]
        columns = ", ".join(
            f"{field['name']} {SQLITE_TYPES[field['type']]}" for field in SCHEMA["fields"]
        )
        connection.execute(f"CREATE TABLE {DATASETTE_TABLE} ({columns})")
        connection.execute("ATTACH DATABASE ? AS city", (f"file:{city_db}?mode=ro",))
        sources = ", ".join(f"c{index}" for index in range(len(names)))
        connection.execute(
            f"INSERT INTO {DATASETTE_TABLE} (rowid, {', '.join(names)}) "
            f"SELECT _id, {sources} FROM city.{table} ORDER BY _id"
        )
        connection.commit()
        connection.execute("DETACH DATABASE city")
        connection.execute(
            f"CREATE INDEX {DATASETTE_TABLE}_{FILTER} ON {DATASETTE_TABLE} ({FILTER})"
        )
        connection.commit()
        connection.execute("VACUUM")
    finally:
        connection.close()


def cityshare_sql(city: CitySite, table: str) -> str:
    """The SQL cityshare runs for ``?junction_id=...&_limit=100`` (compiled in-process)."""
    from cityshare.catalogue.versions import open_version
    from cityshare.query import CursorSigner, plan_query
    from cityshare.query.rows import projection, row_statements

    opened = open_version(city.site, city.admin, DATASET, None)
    plan = plan_query(
        [(FILTER, junction(1)), ("_limit", str(PAGE))],
        opened.table,
        limits=city.site.settings.limits,
        signer=CursorSigner(city.site.secret_key),
        scope=table,
    )
    view = projection(plan)
    dialect = city.site.engine.dialect
    statements = [
        str(statement.limit(PAGE + 1).compile(dialect=dialect))
        for statement in row_statements(plan, view, dialect.name, None)
    ]
    return " ;; ".join(statements)


# --------------------------------------------------------------------------- baselines


def starlette_app() -> Any:
    """The minimal baseline (uvicorn factory): cityshare's SQL on its SQLite file."""
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    config = json.loads(os.environ["BENCH_BASELINE"])
    connection = sqlite3.connect(config["db"], check_same_thread=False)
    names = config["names"]
    sql = config["sql"]
    extra = (0,) * (sql.count("?") - 2)  # SQLAlchemy renders "LIMIT ? OFFSET ?" on SQLite
    default_limit, max_limit = PAGE, 10_000

    async def rows(request: Request) -> Response:
        params = request.query_params
        limit = min(int(params.get("_limit", default_limit)), max_limit)
        found = connection.execute(sql, (params[FILTER], limit + 1, *extra)).fetchall()
        body = {
            "rows": [dict(zip(names, row, strict=False)) for row in found[:limit]],
            "next": str(found[limit - 1][-1]) if len(found) > limit else None,
        }
        return Response(orjson.dumps(body), media_type="application/json")

    return Starlette(routes=[Route("/rows", rows)])


def datasette_app() -> Any:
    """Datasette's ASGI app (uvicorn factory, for N>1 workers); default settings unless
    ``BENCH_DATASETTE_SETTINGS`` (JSON) overrides some."""
    from datasette.app import Datasette

    settings = json.loads(os.environ.get("BENCH_DATASETTE_SETTINGS", "{}"))
    return Datasette([os.environ["BENCH_DATASETTE_DB"]], settings=settings).app()


# --------------------------------------------------------------------------- servers


def uvicorn_command(target: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--app-dir",
        str(BENCH_DIR),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "info",
        "--no-server-header",
    ]


class Setup:
    """Where things are, to start each kind of server."""

    def __init__(self, folder: Path, city: CitySite, table: str, sql: str) -> None:
        self.folder = folder
        self.city = city
        self.table = table
        self.sql = sql
        self.pg_city: CitySite | None = None
        self.rows = PAGE * JUNCTIONS
        self.datasette_db = folder / f"{DATASETTE_DB}.db"

    def server(self, kind: str, workers: int) -> tuple[Server, str, str]:
        """A started server, its ready path and its query path template."""
        port = free_port()
        log_file = self.folder / f"{kind}-{workers}-{port}.log"
        if kind in ("cityshare", "cityshare-pg"):
            city = self.city if kind == "cityshare" else self.pg_city
            assert city is not None
            command = [
                sys.executable,
                "-m",
                "cityshare",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ]
            template = CITYSHARE_PATH
            server = Server(kind, command, port, log_file, env=city.env())
        elif kind in ("datasette", "datasette-lean"):
            settings = DATASETTE_LEAN if kind == "datasette-lean" else {}
            env = dict(
                os.environ,
                BENCH_DATASETTE_DB=str(self.datasette_db),
                BENCH_DATASETTE_SETTINGS=json.dumps(settings),
            )
            if workers == 1:
                command = [
                    "datasette",
                    "serve",
                    str(self.datasette_db),
                    "--host",
                    HOST,
                    "--port",
                    str(port),
                ]
                for name, value in settings.items():
                    command += ["--setting", name, str(value).lower()]
            else:
                command = uvicorn_command("bench_query:datasette_app", port, workers)
            template = f"/{DATASETTE_DB}/{DATASETTE_TABLE}.json?{FILTER}={{value}}&_size={PAGE}"
            server = Server(kind, command, port, log_file, env=env)
        elif kind == "starlette":
            config = {
                "db": str(self.city.data_dir / "cityshare.db"),
                "sql": self.sql,
                "names": [field["name"] for field in SCHEMA["fields"]] + ["_id"],
            }
            env = dict(os.environ, BENCH_BASELINE=json.dumps(config))
            command = uvicorn_command("bench_query:starlette_app", port, workers)
            template = f"/rows?{FILTER}={{value}}&_limit={PAGE}"
            server = Server(kind, command, port, log_file, env=env)
        else:
            raise ValueError(kind)
        return server, template.format(value=junction(0)), template


def check_answer(kind: str, body: Any, expected: int = PAGE) -> None:
    """Each server must answer ``expected`` rows (100) of the asked junction."""
    if kind.startswith("datasette"):
        rows = body["rows"]
        index = body["columns"].index(FILTER) if isinstance(rows[0], list) else None
        values = {row[index] if index is not None else row[FILTER] for row in rows}
    else:
        rows = body["rows"]
        values = {row[FILTER] for row in rows}
    if len(rows) != expected or values != {junction(5)}:
        raise RuntimeError(f"{kind} answered {len(rows)} rows of {sorted(values)[:3]}")


def measure(
    setup: Setup, kind: str, workers: int, duration: float, warmup: float
) -> tuple[WrkResult, list[int]]:
    server, ready, template = setup.server(kind, workers)
    paths = [template.format(value=junction(index)) for index in range(JUNCTIONS)]
    with running(server, ready, timeout=90):
        body = http_get_json(server.base_url + template.format(value=junction(5)))
        check_answer(kind, body, min(PAGE, setup.rows // JUNCTIONS))
        run_wrk(server.base_url, paths, setup.folder, duration=warmup)
        pids = server.server_pids()
        cpu_before = process_cpu_seconds(pids)
        result = run_wrk(server.base_url, paths, setup.folder, duration=duration)
        cpu_used = process_cpu_seconds(pids) - cpu_before
        result.cpu_ms_per_request = 1000 * cpu_used / max(1, result.requests)
    if result.errors:
        log(f"  {kind} x{workers}: {result.errors} errors (non-2xx, timeouts, sockets)")
    return result, pids


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the dataset")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per (server, workers)")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (-c)")
    parser.add_argument("--skip-postgres", action="store_true", help="no PostgreSQL run")
    parser.add_argument("--skip-datasette", action="store_true", help="no Datasette runs")
    parser.add_argument(
        "--skip-lean", action="store_true", help="no datasette-lean (suggest_facets off) runs"
    )
    parser.add_argument(
        "--pg-admin-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="where to create (and drop) the benchmark's PostgreSQL database",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="also py-spy cityshare (1 worker) under load; write stacks to this folder",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=180.0,
        help="seconds, over the whole benchmark, to wait for an idle machine before runs "
        "(at most 30 s before any one run)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write all results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    if not wrk_available():
        raise SystemExit("wrk is required: apt-get install -y wrk")
    check_loader()
    workers_list = [int(value) for value in args.workers.split(",") if value.strip()]
    use_pg = not args.skip_postgres
    if use_pg and not postgres_available(args.pg_admin_url):
        log("PostgreSQL is not reachable: skipping the cityshare-pg runs")
        use_pg = False
    began = time.monotonic()
    with temp_folder("cityshare-bench-query-", keep=args.keep) as folder:
        source = folder / "traffic.csv"
        log(f"writing {args.rows:,} rows to {source.name}")
        write_csv(source, args.rows)
        log(f"  {source.stat().st_size / 1e6:.0f} MB")
        city = make_city_site(folder / "site", None)
        try:
            t0 = time.monotonic()
            publish_open_dataset(city, DATASET, source, SCHEMA)
            log(f"published into SQLite in {time.monotonic() - t0:.1f} s")
            table = version_table_name(city, DATASET)
            sql_text = cityshare_sql(city, table)
            log(f"cityshare SQL: {' '.join(sql_text.split())}")
            if ";;" in sql_text:
                raise RuntimeError("expected one statement for a plain filter")
            if sql_text.count("?") not in (2, 3):
                raise RuntimeError(f"expected parameters value, limit[, offset] in {sql_text}")
            setup = Setup(folder, city, table, sql_text)
            setup.rows = args.rows
            if not args.skip_datasette:
                t0 = time.monotonic()
                build_datasette_db(city.data_dir / "cityshare.db", table, setup.datasette_db)
                log(f"datasette table built in {time.monotonic() - t0:.1f} s")
            kinds = ["cityshare", "starlette"]
            if not args.skip_datasette:
                kinds[1:1] = ["datasette"] if args.skip_lean else ["datasette", "datasette-lean"]
            with _maybe_postgres(use_pg, args.pg_admin_url) as pg_url:
                if pg_url is not None:
                    setup.pg_city = make_city_site(folder / "site-pg", pg_url)
                    t0 = time.monotonic()
                    publish_open_dataset(setup.pg_city, DATASET, source, SCHEMA)
                    log(f"published into PostgreSQL in {time.monotonic() - t0:.1f} s")
                    setup.pg_city.close()
                    kinds.append("cityshare-pg")
                city.close()
                results = run_rounds(setup, kinds, workers_list, args)
                if args.profile is not None:
                    paths = [CITYSHARE_PATH.format(value=junction(i)) for i in range(JUNCTIONS)]
                    profile_cityshare(setup, paths, 1, max(args.duration, 10), args.profile)
        finally:
            city.close()
    report = summarise(results, workers_list, args)
    print(report["table"])
    log(f"total time {time.monotonic() - began:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0 if report["all_pass"] else 1


class _maybe_postgres:
    """``postgres_database`` when wanted, else a context giving None."""

    def __init__(self, wanted: bool, admin_url: str) -> None:
        self._context = postgres_database(admin_url) if wanted else None

    def __enter__(self) -> str | None:
        return self._context.__enter__() if self._context is not None else None

    def __exit__(self, *exc: object) -> None:
        if self._context is not None:
            self._context.__exit__(*exc)


def run_rounds(
    setup: Setup, kinds: list[str], workers_list: list[int], args: argparse.Namespace
) -> dict[tuple[str, int], list[WrkResult]]:
    results: dict[tuple[str, int], list[WrkResult]] = defaultdict(list)
    quiet = QuietWaiter(args.quiet_wait)
    for round_number in range(1, args.repeats + 1):
        for workers in workers_list:
            for kind in kinds:
                busy = quiet.wait()
                result, pids = measure(setup, kind, workers, args.duration, args.warmup)
                result.busy_before = busy
                results[(kind, workers)].append(result)
                log(
                    f"round {round_number}: {kind:14s} x{workers}: {result.rps:8,.0f} req/s "
                    f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
                    f"CPU {result.cpu_ms_per_request:.2f} ms/req  errors {result.errors}  "
                    f"machine busy before {busy:.0%}  (pids {pids})"
                )
    return results


def _ratio(numerator: float, denominator: float) -> float:
    if not denominator or denominator != denominator or numerator != numerator:
        return float("nan")
    return numerator / denominator


def _times(value: float) -> str:
    return "-" if value != value else f"{value:.2f}x"


def summarise(
    results: dict[tuple[str, int], list[WrkResult]],
    workers_list: list[int],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The table (medians, ratios, verdicts) and the same as data."""
    rows = []
    data: list[dict[str, Any]] = []
    all_pass = True
    for workers in workers_list:
        base = {
            kind: median([r.rps for r in results.get((kind, workers), [])])
            for kind in ("datasette", "datasette-lean", "starlette")
        }
        for kind in KINDS:
            runs = results.get((kind, workers))
            if not runs:
                continue
            rps = median([r.rps for r in runs])
            p50 = median([r.p50_ms for r in runs])
            p99 = median([r.p99_ms for r in runs])
            cpu = median([r.cpu_ms_per_request for r in runs])
            vs_datasette = _ratio(rps, base["datasette"])
            vs_lean = _ratio(rps, base["datasette-lean"])
            starlette_over = _ratio(base["starlette"], rps)
            checks: dict[str, bool | None] = {"datasette": None, "starlette": None, "p99": None}
            if kind.startswith("cityshare"):
                if vs_datasette == vs_datasette:
                    checks["datasette"] = vs_datasette >= TARGET_VS_DATASETTE
                if starlette_over == starlette_over:
                    checks["starlette"] = starlette_over <= TARGET_VS_STARLETTE
                checks["p99"] = p99 < TARGET_P99_MS
                if kind == "cityshare":
                    all_pass = all_pass and all(value is not False for value in checks.values())
            rows.append(
                [
                    kind,
                    workers,
                    rps,
                    p50,
                    p99,
                    cpu,
                    _times(vs_datasette) if kind != "datasette" else "-",
                    _times(vs_lean) if kind != "datasette-lean" else "-",
                    _times(starlette_over) if kind != "starlette" else "-",
                    verdict(checks["datasette"]),
                    verdict(checks["starlette"]),
                    verdict(checks["p99"]),
                    sum(r.errors for r in runs),
                    " ".join(f"{r.rps:,.0f}" for r in runs),
                ]
            )
            data.append(
                {
                    "server": kind,
                    "workers": workers,
                    "rps_median": rps,
                    "p50_ms_median": p50,
                    "p99_ms_median": p99,
                    "server_cpu_ms_per_request_median": cpu,
                    "ratio_vs_datasette": vs_datasette,
                    "ratio_vs_datasette_lean": vs_lean,
                    "starlette_over_this": starlette_over,
                    "checks": checks,
                    "runs": [r.as_dict() for r in runs],
                }
            )
    headers = [
        "server",
        "workers",
        "req/s",
        "p50 ms",
        "p99 ms",
        "CPU ms/req",
        "this/datasette",
        "this/ds-lean",
        "starlette/this",
        f">={TARGET_VS_DATASETTE:g}x datasette",
        f"<={TARGET_VS_STARLETTE:g}x starlette",
        f"p99<{TARGET_P99_MS:g}ms",
        "errors",
        "runs (req/s)",
    ]
    title = (
        f"Query benchmark: {args.rows:,} rows; {PAGE} rows per request filtered by {FILTER} "
        f"(~{max(1, args.rows // JUNCTIONS):,} rows per value, {JUNCTIONS} values rotated); "
        f"wrk -t2 -c{args.connections} -d{args.duration:g}s after {args.warmup:g}s warm-up; "
        f"medians of {args.repeats} runs. Targets apply to cityshare (SQLite); cityshare-pg "
        "is reported separately, against the same SQLite baselines. datasette = defaults "
        "(num_sql_threads=3, suggest_facets on); ds-lean = --setting suggest_facets off "
        "(information only). CPU ms/req = server processes' CPU time / requests (robust to "
        "other load on the machine)."
    )
    table = title + "\n\n" + format_table(headers, rows)
    return {"table": table, "results": data, "all_pass": all_pass}


if __name__ == "__main__":
    raise SystemExit(main())
