"""Sensor query benchmark: a day of 5-minute buckets from 10 million readings, and readers
during full-speed ingestion.

Builds a cityshare site in a temporary folder with two sensor datasets made through the
services: ``air-history`` (``--history-devices`` devices x 10 number streams, 200 streams by
default) and ``live`` (the ingestion fleet of ``bench_ingest.py``: 100 devices x 10 streams,
their own keys). ``--rows`` readings (10 000 000) are then loaded straight into the
``observations`` table with the ``sqlite3`` module (one ``INSERT ... SELECT`` over a recursive
counter per stream, in one transaction): every history stream gets the same number of
readings, one every ``--interval`` seconds (5 s: 50 000 readings, about 69 hours, per
stream), ending at the load time, with their provenance (the device, its key, one bulk
``ingest_batches`` row per device). Then, against ``cityshare serve --workers N``:

1. **bucketed day** — ``GET /api/v1/streams/{id}/observations?from=<day start>&to=<day
   end>&_bucket=5m&_agg=avg,min,max,count`` for yesterday (UTC; 17 280 readings into 288
   buckets, the default page of 100 buckets), one client (``wrk -t1 -c1``), rotating over
   every history stream; p50 and p99. The same with ``_limit=1000`` (all 288 buckets in
   one answer) for information, and the raw SQL of the same aggregate in ``sqlite3``.
2. **readers during ingestion** — one client (``wrk -t1 -c1``) asking for a history
   stream's last hour, ``from=<now - 1 h>`` (the first page: 100 readings; and, for
   information, ``&_limit=1000``: all ~720 readings of the hour in one answer), alone,
   then again while ``bench_ingest.py``'s load (batches of 100 signed readings, ``wrk -t2
   -c64``, every request sent once) runs at full speed into the same store; p50 and p99
   of the reader, and the ingestion rate. After each run the store is checked: every
   acknowledged batch stored with all its readings.

Targets: bucketed day p50 < 50 ms; reader p99 < 50 ms during ingestion (each at every
worker count). Exit status 1 when one is missed.

Run: ``python benchmarks/bench_sensor_query.py`` (about 7 minutes) or, quickly,
``python benchmarks/bench_sensor_query.py --rows 1000000 --duration 4 --repeats 1``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import statistics
import sys
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import PRELOAD_CHANNEL, check_cityshare_store, cityshare_server
from common import (
    QuietWaiter,
    WrkResult,
    add_run_options,
    format_table,
    http_get_json,
    log,
    make_city_site,
    median,
    run_wrk,
    running,
    stop_on_sigterm,
    temp_folder,
    verdict,
    worker_counts,
    wrk_available,
)
from ingest_load import Fleet, IngestLoad, RequestMaker, WrkIngest, build_fleet

HISTORY = "air-history"
LIVE = "live"
ORG = "city"
BUCKET = "5m"
AGGREGATES = "avg,min,max,count"
TARGET_BUCKET_P50_MS = 50.0
TARGET_READER_P99_MS = 50.0
MICROS = 1_000_000
DAY = 86_400


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class History:
    """What was bulk-loaded: the streams, their time range and the day that is queried."""

    stream_ids: tuple[int, ...]
    per_stream: int
    interval_s: int
    first: int  # seconds since the epoch of the first reading
    end: int  # one interval after the last reading
    day_start: int
    day_end: int
    load_seconds: float

    @property
    def rows(self) -> int:
        return self.per_stream * len(self.stream_ids)

    @property
    def bucket_readings(self) -> int:
        """Readings in one full 5-minute bucket."""
        return 300 // self.interval_s


def bulk_load(db: Path, fleet: Fleet, rows: int, interval: int) -> History:
    """``rows`` readings spread evenly over the fleet's streams, straight into SQLite.

    One INSERT ... SELECT over a recursive counter per stream, in stream and time order
    (the primary key's order), in one transaction with the journal off and no sync (a
    benchmark fixture, not how cityshare writes); the database goes back to WAL after."""
    stream_ids = tuple(stream for streams in fleet.stream_ids for stream in streams)
    per_stream = rows // len(stream_ids)
    end = int(time.time()) // interval * interval
    first = end - per_stream * interval
    began = time.monotonic()
    connection = sqlite3.connect(db, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-262144")
        connection.execute("BEGIN")
        loaded_at = int(time.time() * MICROS)
        for device_id, streams in zip(fleet.device_ids, fleet.stream_ids, strict=True):
            key_id = connection.execute(
                "SELECT min(id) FROM device_keys WHERE device_id = ?", (device_id,)
            ).fetchone()[0]
            batch_id = connection.execute(
                "INSERT INTO ingest_batches (device_id, key_id, nonce, body_sha256, sent_at, "
                "received_at, readings, channel) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    device_id,
                    key_id,
                    f"bulk-{device_id}",
                    "0" * 64,
                    loaded_at,
                    loaded_at,
                    per_stream * len(streams),
                    PRELOAD_CHANNEL,
                ),
            ).fetchone()[0]
            for stream_id in streams:
                connection.execute(
                    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
                    "WHERE i + 1 < ?) "
                    "INSERT INTO observations (stream_id, time, value_num, value_text, "
                    "received_at, device_id, key_id, batch_id, verified) "
                    "SELECT ?, (? + i * ?) * 1000000, "
                    "20.0 + (abs(random()) % 4000) / 100.0, NULL, "
                    "(? + i * ? + 1) * 1000000, ?, ?, ?, 1 FROM n",
                    (
                        per_stream,
                        stream_id,
                        first,
                        interval,
                        first,
                        interval,
                        device_id,
                        key_id,
                        batch_id,
                    ),
                )
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    day_end = end // DAY * DAY
    day_start = day_end - DAY
    if day_start < first:  # a short load (--rows): up to 24 h of data, in whole buckets
        day_start = -(-first // 300) * 300
        day_end = min(day_start + DAY, end // 300 * 300)
    return History(
        stream_ids=stream_ids,
        per_stream=per_stream,
        interval_s=interval,
        first=first,
        end=end,
        day_start=day_start,
        day_end=day_end,
        load_seconds=time.monotonic() - began,
    )


def rfc3339(seconds: int) -> str:
    """Seconds since the epoch as RFC 3339 (UTC, ``Z``)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bucket_path(stream_id: int, history: History, limit: int | None = None) -> str:
    """The bucketed-day request for one stream."""
    path = (
        f"/api/v1/streams/{stream_id}/observations?from={rfc3339(history.day_start)}"
        f"&to={rfc3339(history.day_end)}&_bucket={BUCKET}&_agg={AGGREGATES}"
    )
    return path if limit is None else f"{path}&_limit={limit}"


def last_hour_path(stream_id: int, now: int, limit: int | None = None) -> str:
    """A stream's last hour: its first page, or ``limit`` readings a page."""
    path = f"/api/v1/streams/{stream_id}/observations?from={rfc3339(now - 3600)}"
    return path if limit is None else f"{path}&_limit={limit}"


def check_buckets(body: Any, history: History, expected: int) -> None:
    """The day's first ``expected`` buckets, each with a full count."""
    buckets = body["buckets"]
    full = history.bucket_readings
    if len(buckets) != expected or buckets[0]["bucket"] != rfc3339(history.day_start):
        raise RuntimeError(
            f"expected {expected} buckets from {rfc3339(history.day_start)}, got "
            f"{len(buckets)} from {buckets[0]['bucket'] if buckets else None}"
        )
    if any(bucket["count"] != full for bucket in buckets):
        raise RuntimeError(f"expected {full} readings in every bucket: {buckets[:3]}")


def raw_sql_ms(db: Path, history: History, repeats: int = 50) -> float:
    """Median milliseconds of the same aggregate (288 buckets) in plain ``sqlite3``."""
    size = 300 * MICROS
    sql = (
        "SELECT (time / ?) * ? AS bucket, avg(value_num), min(value_num), max(value_num), "
        "count(*) FROM observations WHERE stream_id = ? AND time >= ? AND time < ? "
        "GROUP BY bucket ORDER BY bucket LIMIT 1001"
    )
    timings = []
    with contextlib.closing(sqlite3.connect(db)) as connection:
        for number in range(repeats):
            stream = history.stream_ids[(number * 37) % len(history.stream_ids)]
            params = (size, size, stream, history.day_start * MICROS, history.day_end * MICROS)
            began = time.perf_counter()
            connection.execute(sql, params).fetchall()
            timings.append(1000 * (time.perf_counter() - began))
    return statistics.median(timings)


# --------------------------------------------------------------------------- runs


@dataclass
class RoundResult:
    """One round at one worker count."""

    workers: int
    bucket: WrkResult
    bucket_all: WrkResult
    reader_alone: WrkResult
    reader_loaded: WrkResult
    hour_alone: WrkResult
    hour_loaded: WrkResult
    ingest_readings_per_s: float
    ingest_p99_ms: float
    store_ok: bool
    store_problems: list[str]
    busy_before: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_round(
    folder: Path,
    data_dir: Path,
    history: History,
    maker: RequestMaker,
    workers: int,
    args: argparse.Namespace,
    busy: float,
    loads: list[IngestLoad],
) -> RoundResult:
    """All measurements at one worker count, on one server; ``loads`` (every ingestion
    into this store so far) grows by this round's."""
    server = cityshare_server(data_dir, workers, folder)
    streams = history.stream_ids
    with running(server, "/api/v1", timeout=120):
        base = server.base_url
        buckets = (history.day_end - history.day_start) // 300
        first_page = http_get_json(base + bucket_path(streams[0], history))
        check_buckets(first_page, history, min(100, buckets))
        check_buckets(
            http_get_json(base + bucket_path(streams[1], history, 1000)), history, buckets
        )
        paths = [bucket_path(stream, history) for stream in streams]
        run_wrk(base, paths, folder, duration=args.warmup, connections=1, threads=1)
        bucket = run_wrk(base, paths, folder, duration=args.duration, connections=1, threads=1)
        paths_all = [bucket_path(stream, history, 1000) for stream in streams]
        bucket_all = run_wrk(
            base, paths_all, folder, duration=args.duration / 2, connections=1, threads=1
        )
        now = int(time.time())
        first = [last_hour_path(stream, now) for stream in streams]
        hour = [last_hour_path(stream, now, 1000) for stream in streams]
        if len(http_get_json(base + first[0])["observations"]) != 100:
            raise RuntimeError("the last hour's first page is not 100 readings")
        answer = http_get_json(base + hour[0])
        if len(answer["observations"]) < 3000 // history.interval_s:
            raise RuntimeError(f"the last hour holds {len(answer['observations'])} readings")
        short = args.duration / 2
        alone = run_wrk(base, first, folder, duration=args.duration, connections=1, threads=1)
        hour_alone = run_wrk(base, hour, folder, duration=short, connections=1, threads=1)
        load = IngestLoad(
            maker,
            per_request=args.batch,
            connections=args.connections,
            guess_rps=args.ingest_guess,
        )
        loads.append(load)
        load.run(base, args.warmup)
        outcome: dict[str, WrkIngest] = {}
        ingesting = threading.Thread(
            target=lambda: outcome.setdefault("run", load.run(base, args.duration + short + 3)),
            name="ingest-load",
        )
        ingesting.start()
        time.sleep(1.5)  # ingestion ramps up (request files loaded, connections open)
        try:
            loaded = run_wrk(base, first, folder, duration=args.duration, connections=1, threads=1)
            hour_loaded = run_wrk(base, hour, folder, duration=short, connections=1, threads=1)
        finally:
            ingesting.join()
        time.sleep(0.5)
    ingest = outcome["run"]
    args.ingest_guess = max(args.ingest_guess or 0.0, ingest.created_per_s)
    sent = sum(run.sent for every in loads for run in every.runs)
    nonces = [nonce for every in loads for nonce in every.acked_nonces()]
    check = check_cityshare_store(data_dir / "cityshare.db", nonces, args.batch, sent)
    return RoundResult(
        workers=workers,
        bucket=bucket,
        bucket_all=bucket_all,
        reader_alone=alone,
        reader_loaded=loaded,
        hour_alone=hour_alone,
        hour_loaded=hour_loaded,
        ingest_readings_per_s=ingest.created_per_s * args.batch,
        ingest_p99_ms=ingest.p99_ms,
        store_ok=check.ok and not (ingest.refused or ingest.again or ingest.socket_errors),
        store_problems=check.problems,
        busy_before=busy,
    )


# --------------------------------------------------------------------------- report


def summarise(
    results: list[RoundResult], history: History, sql_ms: float, args: argparse.Namespace
) -> dict[str, Any]:
    """The table (medians, verdicts) and the same as data."""
    by_workers: dict[int, list[RoundResult]] = defaultdict(list)
    for result in results:
        by_workers[result.workers].append(result)
    rows: list[list[Any]] = []
    data: list[dict[str, Any]] = []
    all_pass = bool(results)
    for workers, runs in sorted(by_workers.items()):
        bucket_p50 = median([r.bucket.p50_ms for r in runs])
        loaded_p99 = median([r.reader_loaded.p99_ms for r in runs])
        checks = {
            "bucket_p50": bucket_p50 < TARGET_BUCKET_P50_MS,
            "reader_p99": loaded_p99 < TARGET_READER_P99_MS,
            "stored": all(r.store_ok for r in runs),
        }
        all_pass = all_pass and all(checks.values())
        measures = [
            ("bucketed day (100 buckets)", [r.bucket for r in runs], "bucket_p50"),
            ("bucketed day, _limit=1000 (288)", [r.bucket_all for r in runs], None),
            ("last hour (100), alone", [r.reader_alone for r in runs], None),
            ("last hour (100), during ingestion", [r.reader_loaded for r in runs], "reader_p99"),
            ("whole hour (720), alone", [r.hour_alone for r in runs], None),
            ("whole hour (720), during ingestion", [r.hour_loaded for r in runs], None),
        ]
        for name, wrk_runs, check in measures:
            rows.append(
                [
                    name,
                    workers,
                    median([w.p50_ms for w in wrk_runs]),
                    median([w.p99_ms for w in wrk_runs]),
                    median([w.rps for w in wrk_runs]),
                    sum(w.errors for w in wrk_runs),
                    verdict(checks[check]) if check else "-",
                    " ".join(f"{w.p50_ms:.1f}/{w.p99_ms:.1f}" for w in wrk_runs),
                ]
            )
        ingest = median([r.ingest_readings_per_s for r in runs])
        rows.append(
            [
                "ingestion alongside (readings/s)",
                workers,
                "-",
                median([r.ingest_p99_ms for r in runs]),
                ingest,
                0 if checks["stored"] else "FAIL",
                "ok" if checks["stored"] else "FAIL",
                " ".join(f"{r.ingest_readings_per_s:,.0f}" for r in runs),
            ]
        )
        data.append(
            {
                "workers": workers,
                "bucket_p50_ms_median": bucket_p50,
                "reader_during_ingestion_p99_ms_median": loaded_p99,
                "ingest_readings_per_s_median": ingest,
                "checks": checks,
                "runs": [r.as_dict() for r in runs],
            }
        )
    headers = ["request", "workers", "p50 ms", "p99 ms", "req/s", "errors", "target", "runs"]
    title = (
        f"Sensor queries: {history.rows:,} readings in {len(history.stream_ids)} streams "
        f"(one every {history.interval_s} s, {history.per_stream:,} per stream, loaded in "
        f"{history.load_seconds:.0f} s); bucketed day = {rfc3339(history.day_start)} to "
        f"{rfc3339(history.day_end)}, _bucket={BUCKET}&_agg={AGGREGATES}, one client (wrk "
        f"-t1 -c1, {args.duration:g} s), all streams rotated; raw SQL of the same aggregate "
        f"in sqlite3: {sql_ms:.1f} ms (median). Last hour = from=now-1h (first page, 100 "
        f"readings); whole hour = the same with _limit=1000 (~{3600 // history.interval_s} "
        f"readings); during "
        f"ingestion = while batches of {args.batch} signed readings are sent by wrk -t2 "
        f"-c{args.connections}. Medians of {args.repeats} rounds. Targets: bucketed day p50 < "
        f"{TARGET_BUCKET_P50_MS:g} ms; last hour during ingestion p99 < "
        f"{TARGET_READER_P99_MS:g} ms."
    )
    table = title + "\n\n" + format_table(headers, rows)
    return {"table": table, "results": data, "all_pass": all_pass}


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="readings to bulk-load")
    parser.add_argument(
        "--history-devices", type=int, default=20, help="devices (x 10 streams) of the history"
    )
    parser.add_argument("--interval", type=int, default=5, help="seconds between readings")
    parser.add_argument("--ingest-devices", type=int, default=100, help="ingesting devices")
    parser.add_argument("--batch", type=int, default=100, help="readings per ingest request")
    parser.add_argument("--connections", type=int, default=64, help="ingest wrk connections")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per worker count")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    add_run_options(parser, quiet_wait=90.0)
    args = parser.parse_args(argv)
    args.workers_list = worker_counts(args.workers)
    args.ingest_guess = None
    if 300 % args.interval:
        parser.error("--interval must divide 300 (5-minute buckets)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    if not wrk_available():
        raise SystemExit("wrk is required: apt-get install -y wrk")
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python", "benchmarks/bench_sensor_query.py", *given])
    began = time.monotonic()
    results: list[RoundResult] = []
    with temp_folder("cityshare-bench-sensors-", keep=args.keep) as folder:
        data_dir = folder / "site"
        city = make_city_site(data_dir, None, org=ORG)
        try:
            history_fleet = build_fleet(city, HISTORY, args.history_devices, 10, prefix="history")
            live_fleet = build_fleet(city, LIVE, args.ingest_devices, 10, prefix="sensor")
        finally:
            city.close()
        log(f"site built in {time.monotonic() - began:.0f} s; loading {args.rows:,} readings")
        history = bulk_load(data_dir / "cityshare.db", history_fleet, args.rows, args.interval)
        log(
            f"loaded {history.rows:,} readings in {history.load_seconds:.0f} s "
            f"({history.rows / history.load_seconds:,.0f}/s); database "
            f"{(data_dir / 'cityshare.db').stat().st_size / 1e9:.2f} GB"
        )
        sql_ms = raw_sql_ms(data_dir / "cityshare.db", history)
        log(f"raw SQL of the bucketed day: {sql_ms:.1f} ms")
        maker = RequestMaker(live_fleet, folder)
        loads: list[IngestLoad] = []
        try:
            quiet = QuietWaiter(args.quiet_wait)
            for round_number in range(1, args.repeats + 1):
                for workers in args.workers_list:
                    busy = quiet.wait()
                    result = measure_round(
                        folder, data_dir, history, maker, workers, args, busy, loads
                    )
                    results.append(result)
                    log(
                        f"round {round_number} x{workers}: bucketed day p50 "
                        f"{result.bucket.p50_ms:.1f} p99 {result.bucket.p99_ms:.1f} ms; last "
                        f"hour alone p50 {result.reader_alone.p50_ms:.1f} p99 "
                        f"{result.reader_alone.p99_ms:.1f} ms, during ingestion p50 "
                        f"{result.reader_loaded.p50_ms:.1f} p99 "
                        f"{result.reader_loaded.p99_ms:.1f} ms (whole hour "
                        f"{result.hour_alone.p99_ms:.1f} / {result.hour_loaded.p99_ms:.1f}) at "
                        f"{result.ingest_readings_per_s:,.0f} readings/s; store "
                        f"{'ok' if result.store_ok else result.store_problems}; busy before "
                        f"{busy:.0%}"
                    )
        finally:
            maker.close()
    report = summarise(results, history, sql_ms, args)
    print(f"command: {command}\n")
    print(report["table"])
    log(f"total time {time.monotonic() - began:.0f} s")
    if args.json:
        payload = {**report, "command": command}
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 0 if report["all_pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
