"""Ingestion benchmark: signed batches of sensor readings over HTTP into SQLite.

Builds a cityshare site in a temporary folder (an organisation, a sensor dataset, ``--devices``
devices with their own Ed25519 keys, ``--streams`` number streams each), then measures with
``wrk`` how many readings per second reach the store, durably, through:

* ``cityshare`` — ``cityshare serve --workers N``, ``POST /api/v1/ingest`` with batches of
  ``--batch`` (100) signed readings, and with single-reading batches;
* ``baseline`` — a minimal Starlette endpoint (``baseline_ingest.py``) under uvicorn with the
  same worker count, taking the same bytes unsigned, parsing them with orjson and storing
  them with one ``executemany`` and one commit per request into an ``observations``-like
  table (``WITHOUT ROWID``, primary key ``(stream_id, time)``, WAL, ``synchronous=FULL``).

The signed requests are made before each run by two generator processes with the device-side
helpers (``cityshare.streams.client``): signing is the device's cost, not the server's. Each
request is sent once: every batch has a fresh nonce and ``sent_at`` (the server accepts
±300 s), and every (stream, time) is used once in the whole benchmark. ``wrk`` (C, two
threads) sends them from pre-built request files through a Lua script (:data:`LUA`) that
also records the nonce of every acknowledgement. After each run the server is stopped and
the store checked: every acknowledged batch is stored with all its readings, nothing is
half stored, nothing was refused.

Each (server, mode, workers) is run ``--repeats`` times, interleaved; medians are reported.
Each run gets a fresh store (a copy of the same freshly built site, or a fresh baseline file).

Run: ``python benchmarks/bench_ingest.py`` (about 10 minutes) or, quickly,
``python benchmarks/bench_ingest.py --duration 3 --warmup 1 --repeats 1 --workers 2``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH_DIR,
    HOST,
    QuietWaiter,
    Server,
    add_run_options,
    format_table,
    free_port,
    log,
    make_city_site,
    median,
    running,
    stop_on_sigterm,
    temp_folder,
    verdict,
    worker_counts,
    wrk_available,
)
from ingest_load import (
    DATASET,
    KINDS,
    MODES,
    ORG,
    TARGET_READINGS_PER_S,
    TARGET_SINGLE_RPS,
    TARGET_VS_BASELINE,
    Fleet,
    IngestLoad,
    RequestMaker,
    build_fleet,
)

# --------------------------------------------------------------------------- servers


def cityshare_env(data_dir: Path) -> dict[str, str]:
    """The environment of ``cityshare serve`` on ``data_dir`` (no other CITYSHARE_* setting
    from the caller's environment leaks in, e.g. an MQTT URL)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CITYSHARE_")}
    env["CITYSHARE_DATA_DIR"] = str(data_dir)
    return env


def cityshare_server(data_dir: Path, workers: int, log_dir: Path) -> Server:
    """``cityshare serve --workers N`` on a free port (ready path ``/api/v1``)."""
    port = free_port()
    command = [sys.executable, "-m", "cityshare", "serve", "--port", str(port)]
    command += ["--workers", str(workers)]
    log_file = log_dir / f"cityshare-{workers}-{port}.log"
    return Server("cityshare", command, port, log_file, env=cityshare_env(data_dir))


def baseline_server(fleet: Fleet, db: Path, workers: int, log_dir: Path) -> Server:
    """The baseline app under uvicorn (ready path ``/health``), access log off as in
    ``cityshare serve``."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "baseline_ingest:app", "--factory"]
    command += ["--app-dir", str(BENCH_DIR), "--host", HOST, "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "info", "--no-access-log"]
    command += ["--no-server-header"]
    env = dict(os.environ, BENCH_INGEST_BASELINE=json.dumps(fleet.baseline_config(db)))
    log_file = log_dir / f"baseline-{workers}-{port}.log"
    return Server("baseline", command, port, log_file, env=env)


READY_PATH = {"cityshare": "/api/v1", "baseline": "/health"}


# --------------------------------------------------------------------------- checks


@dataclass
class StoreCheck:
    """What the store holds after a run, against what wrk was told."""

    acknowledged_batches: int
    acknowledged_readings: int
    stored_readings: int
    stored_readings_of_acknowledged: int
    in_flight_batches: int
    refusals: int
    ok: bool
    problems: list[str]


PRELOAD_CHANNEL = "bulk"  # ingest_batches.channel of readings loaded without HTTP


def check_cityshare_store(
    db: Path, nonces: Sequence[str], per_request: int, sent: int
) -> StoreCheck:
    """Every acknowledged batch is stored with all its readings (zero loss), no batch is
    stored half, nothing was refused. Batches of channel :data:`PRELOAD_CHANNEL` (bulk
    loads made before the run) are left out of the counts."""
    problems: list[str] = []
    connection = sqlite3.connect(db)
    try:
        connection.execute("CREATE TEMP TABLE acked (nonce TEXT PRIMARY KEY)")
        connection.executemany("INSERT OR IGNORE INTO acked VALUES (?)", ((n,) for n in nonces))
        batches, batch_readings, bulk_batches, bulk_readings = connection.execute(
            "SELECT count(*), coalesce(sum(readings), 0), "
            "coalesce(sum(channel = ?), 0), coalesce(sum((channel = ?) * readings), 0) "
            "FROM ingest_batches",
            (PRELOAD_CHANNEL, PRELOAD_CHANNEL),
        ).fetchone()
        stored = connection.execute("SELECT count(*) FROM observations").fetchone()[0]
        found, found_readings = connection.execute(
            "SELECT count(*), coalesce(sum(b.readings), 0) FROM ingest_batches b "
            "JOIN acked a ON a.nonce = b.nonce"
        ).fetchone()
        rows_of_acked = connection.execute(
            "SELECT count(*) FROM observations WHERE batch_id IN "
            "(SELECT b.id FROM ingest_batches b JOIN acked a ON a.nonce = b.nonce)"
        ).fetchone()[0]
        refusals = connection.execute(
            "SELECT coalesce(sum(count), 0) FROM ingest_refusals"
        ).fetchone()[0]
    finally:
        connection.close()
    acked = len(set(nonces))
    if len(nonces) != acked:
        problems.append(f"{len(nonces) - acked} nonces acknowledged twice")
    if found != acked:
        problems.append(f"{acked - found} acknowledged batches are not stored")
    if rows_of_acked != acked * per_request or found_readings != acked * per_request:
        problems.append(
            f"acknowledged {acked * per_request} readings, {rows_of_acked} of them stored"
        )
    if stored != batch_readings:
        problems.append(f"{stored} readings stored, but the batches hold {batch_readings}")
    in_flight = batches - bulk_batches - found
    if in_flight < 0 or in_flight > max(0, sent - acked):
        problems.append(f"{in_flight} stored batches were never sent or acknowledged")
    if refusals:
        problems.append(f"{refusals} refusals recorded")
    return StoreCheck(
        acknowledged_batches=acked,
        acknowledged_readings=acked * per_request,
        stored_readings=int(stored) - int(bulk_readings),
        stored_readings_of_acknowledged=int(rows_of_acked),
        in_flight_batches=int(in_flight),
        refusals=int(refusals),
        ok=not problems,
        problems=problems,
    )


def check_baseline_store(db: Path, acknowledged: int, per_request: int, sent: int) -> StoreCheck:
    """The baseline keeps no batches: at least every acknowledged reading is stored, at most
    every sent one, and whole batches only."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        stored = int(connection.execute("SELECT count(*) FROM observations").fetchone()[0])
    problems = []
    if stored < acknowledged * per_request:
        problems.append(f"{acknowledged * per_request - stored} acknowledged readings lost")
    if stored > sent * per_request or stored % per_request:
        problems.append(f"{stored} readings stored from {sent} batches of {per_request}")
    return StoreCheck(
        acknowledged_batches=acknowledged,
        acknowledged_readings=acknowledged * per_request,
        stored_readings=stored,
        stored_readings_of_acknowledged=min(stored, acknowledged * per_request),
        in_flight_batches=stored // per_request - acknowledged,
        refusals=0,
        ok=not problems,
        problems=problems,
    )


# --------------------------------------------------------------------------- one run


@dataclass
class RunResult:
    """One measured run of one (server, mode, workers)."""

    kind: str
    mode: str
    workers: int
    per_request: int
    connections: int
    readings_per_s: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_request: float
    switches_per_request: float
    wrk_cpu_percent: float
    errors: int
    busy_before: float
    check: StoreCheck

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Bench:
    """Where things are, and the state shared by all runs."""

    def __init__(self, folder: Path, template: Path, fleet: Fleet, args: argparse.Namespace):
        self.folder = folder
        self.template = template
        self.fleet = fleet
        self.args = args
        self.maker = RequestMaker(fleet, folder)
        self.rates: dict[tuple[str, str, int], float] = {}
        self._serial = 0

    def per_request(self, mode: str) -> int:
        return int(self.args.batch) if mode == "batch" else 1

    def fresh_store(self, kind: str) -> Path:
        """A new data folder (cityshare: a copy of the template site) or baseline file."""
        self._serial += 1
        if kind == "cityshare":
            target = self.folder / f"run-{self._serial:03d}"
            shutil.copytree(self.template, target)
            return target
        target = self.folder / f"baseline-{self._serial:03d}.db"
        from baseline_ingest import create_table

        create_table(target)
        return target

    def server(self, kind: str, store: Path, workers: int) -> Server:
        if kind == "cityshare":
            return cityshare_server(store, workers, self.folder)
        return baseline_server(self.fleet, store, workers, self.folder)

    def measure(self, kind: str, mode: str, workers: int, busy: float) -> RunResult:
        """Warm up, run, stop, check the store; remove the store afterwards."""
        args = self.args
        per = self.per_request(mode)
        store = self.fresh_store(kind)
        load = IngestLoad(
            self.maker,
            per_request=per,
            connections=args.connections,
            guess_rps=self.rates.get((kind, mode, workers)),
        )
        server = self.server(kind, store, workers)
        try:
            with running(server, READY_PATH[kind], timeout=90):
                if args.warmup > 0:
                    load.run(server.base_url, args.warmup)
                pids = server.server_pids()
                result = load.run(server.base_url, args.duration, cpu_pids=pids)
                time.sleep(0.5)  # answers to requests cut off by wrk's end
            db = store / "cityshare.db" if kind == "cityshare" else store
            sent = sum(run.sent for run in load.runs)
            if kind == "cityshare":
                check = check_cityshare_store(db, load.acked_nonces(), per, sent)
            else:
                acked = sum(run.created for run in load.runs)
                check = check_baseline_store(db, acked, per, sent)
        finally:
            if args.keep:
                pass
            elif store.is_dir():
                shutil.rmtree(store, ignore_errors=True)
            else:
                _unlink_db(store)
        self.rates[(kind, mode, workers)] = max(
            self.rates.get((kind, mode, workers), 0.0), result.created_per_s
        )
        errors = result.socket_errors + result.refused + result.again + int(result.wrapped)
        server_cpu = result.server_cpu_s
        return RunResult(
            kind=kind,
            mode=mode,
            workers=workers,
            per_request=per,
            connections=args.connections,
            readings_per_s=result.created_per_s * per,
            requests_per_s=result.created_per_s,
            p50_ms=result.p50_ms,
            p99_ms=result.p99_ms,
            server_cpu_ms_per_request=1000 * server_cpu / max(1, result.requests),
            switches_per_request=result.server_switches / max(1, result.requests),
            wrk_cpu_percent=100 * result.wrk_cpu_s / result.duration_s,
            errors=errors,
            busy_before=busy,
            check=check,
        )


def _unlink_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


# --------------------------------------------------------------------------- setup


def build_template(folder: Path, devices: int, streams: int) -> tuple[Path, Fleet]:
    """The site every cityshare run starts from: admin, organisation, dataset, fleet."""
    template = folder / "template"
    city = make_city_site(template, None, org=ORG)
    try:
        fleet = build_fleet(city, DATASET, devices, streams)
    finally:
        city.close()
    _checkpoint(template / "cityshare.db")
    return template, fleet


def _checkpoint(db: Path) -> None:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# --------------------------------------------------------------------------- report


def summarise(results: list[RunResult], args: argparse.Namespace) -> dict[str, Any]:
    """The table (medians, ratios, verdicts) and the same as data."""
    grouped: dict[tuple[str, str, int], list[RunResult]] = defaultdict(list)
    for result in results:
        grouped[(result.kind, result.mode, result.workers)].append(result)
    rows: list[list[Any]] = []
    data: list[dict[str, Any]] = []
    all_pass = True
    for mode in MODES:
        for workers in args.workers_list:
            base_runs = grouped.get(("baseline", mode, workers), [])
            base = median([r.readings_per_s for r in base_runs])
            for kind in KINDS:
                runs = grouped.get((kind, mode, workers))
                if not runs:
                    continue
                readings = median([r.readings_per_s for r in runs])
                rps = median([r.requests_per_s for r in runs])
                ratio = readings / base if base == base and base else float("nan")
                checks: dict[str, bool | None] = {"rate": None, "ratio": None, "stored": None}
                checks["stored"] = all(r.check.ok and not r.errors for r in runs)
                if kind == "cityshare" and mode == "batch":
                    checks["rate"] = readings >= TARGET_READINGS_PER_S
                    if ratio == ratio:
                        checks["ratio"] = ratio >= TARGET_VS_BASELINE
                if kind == "cityshare" and mode == "single":
                    checks["rate"] = rps >= TARGET_SINGLE_RPS
                if kind == "cityshare" or not checks["stored"]:
                    all_pass = all_pass and all(value is not False for value in checks.values())
                rows.append(
                    [
                        kind,
                        mode,
                        workers,
                        readings,
                        rps,
                        median([r.p50_ms for r in runs]),
                        median([r.p99_ms for r in runs]),
                        median([r.server_cpu_ms_per_request for r in runs]),
                        median([r.switches_per_request for r in runs]),
                        median([r.wrk_cpu_percent for r in runs]),
                        f"{ratio:.2f}x" if kind == "cityshare" and ratio == ratio else "-",
                        verdict(checks["rate"]),
                        verdict(checks["ratio"]),
                        "ok" if checks["stored"] else "FAIL",
                        " ".join(f"{r.readings_per_s:,.0f}" for r in runs),
                    ]
                )
                data.append(
                    {
                        "server": kind,
                        "mode": mode,
                        "workers": workers,
                        "readings_per_s_median": readings,
                        "requests_per_s_median": rps,
                        "ratio_vs_baseline": ratio,
                        "checks": checks,
                        "runs": [r.as_dict() for r in runs],
                    }
                )
    headers = [
        "server",
        "mode",
        "workers",
        "readings/s",
        "req/s",
        "p50 ms",
        "p99 ms",
        "server CPU ms/req",
        "switches/req",
        "wrk CPU %",
        "vs baseline",
        "rate target",
        f">={TARGET_VS_BASELINE:.0%} baseline",
        "stored = acked",
        "runs (readings/s)",
    ]
    title = (
        f"Ingestion benchmark: {args.devices} devices x {args.streams} streams; "
        f"batch = {args.batch} signed readings per request, single = 1; wrk -t2 "
        f"-c{args.connections} -d{args.duration:g}s after {args.warmup:g}s warm-up, every "
        f"request sent once; medians of {args.repeats} runs; fresh store per run. Targets "
        f"(cityshare): batch >= {TARGET_READINGS_PER_S:,.0f} readings/s and >= "
        f"{TARGET_VS_BASELINE:.0%} of the baseline at the same worker count; single >= "
        f"{TARGET_SINGLE_RPS:,.0f} req/s. server CPU ms/req = the server processes' CPU time "
        "/ requests; switches/req = their threads' context switches / requests; wrk CPU % = "
        "the load generator's CPU (of 200 % on 2 cores)."
    )
    table = title + "\n\n" + format_table(headers, rows)
    return {"table": table, "results": data, "all_pass": all_pass}


# --------------------------------------------------------------------------- profiling


def profile(bench: Bench, mode: str, duration: float, out: Path, workers: int = 1) -> None:
    """py-spy the cityshare server (``workers`` processes) under the ``mode`` load:
    ``--gil`` (Python CPU) and wall-clock (idle threads left out); prints the hottest
    frames."""

    from profiling import summarise_stacks

    if shutil.which("py-spy") is None:
        log("py-spy not installed (pip install py-spy): no profile")
        return
    out.mkdir(parents=True, exist_ok=True)
    store = bench.fresh_store("cityshare")
    load = IngestLoad(
        bench.maker,
        per_request=bench.per_request(mode),
        connections=bench.args.connections,
        guess_rps=bench.rates.get(("cityshare", mode, workers)),
    )
    server = bench.server("cityshare", store, workers)
    with running(server, READY_PATH["cityshare"], timeout=90):
        load.run(server.base_url, 2)
        for spy_mode in ("gil", "wall"):
            raw = out / f"ingest-{mode}-{spy_mode}.pyspy.txt"
            command = ["py-spy", "record", "--pid", str(server.process.pid), "--subprocesses"]
            command += ["--rate", "250", "--duration", str(int(duration)), "--format", "raw"]
            command += ["--output", str(raw), "--nonblocking"]
            command += ["--gil"] if spy_mode == "gil" else []
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                result = load.run(server.base_url, duration + 1)
            finally:
                spy.wait(timeout=duration + 60)
            log(f"profiled {mode} ({spy_mode}) at {result.created_per_s:,.0f} req/s: {raw}")
            print(f"\n## py-spy {spy_mode} profile of cityshare ingest, {mode} ({workers}w)\n")
            print(summarise_stacks(raw, drop_idle=spy_mode == "wall"))
    shutil.rmtree(store, ignore_errors=True)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=100, help="devices (own keys)")
    parser.add_argument("--streams", type=int, default=10, help="number streams per device")
    parser.add_argument("--batch", type=int, default=100, help="readings per batch request")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per (server, mode, workers)")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (-c)")
    parser.add_argument("--modes", default="batch,single", help="batch and/or single")
    parser.add_argument(
        "--skip-baseline-single",
        action="store_true",
        help="no baseline runs of single-reading requests (information only)",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="no baseline runs at all")
    parser.add_argument(
        "--profile", type=Path, default=None, help="also py-spy cityshare; stacks go here"
    )
    add_run_options(parser, quiet_wait=120.0)
    args = parser.parse_args(argv)
    args.workers_list = worker_counts(args.workers)
    args.modes_list = [mode for mode in args.modes.split(",") if mode.strip()]
    if set(args.modes_list) - set(MODES):
        parser.error(f"--modes takes {', '.join(MODES)}")
    return args


def plan(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The (server, mode) pairs of one round."""
    pairs = []
    for mode in args.modes_list:
        pairs.append(("cityshare", mode))
        wanted = not args.skip_baseline and not (mode == "single" and args.skip_baseline_single)
        if wanted:
            pairs.append(("baseline", mode))
    return pairs


@contextlib.contextmanager
def bench_setup(args: argparse.Namespace) -> Iterator[Bench]:
    """The temporary folder, the template site and the request makers, cleaned up after."""
    with temp_folder("cityshare-bench-ingest-", keep=args.keep) as folder:
        t0 = time.monotonic()
        template, fleet = build_template(folder, args.devices, args.streams)
        log(
            f"site with {args.devices} devices x {args.streams} streams built in "
            f"{time.monotonic() - t0:.1f} s"
        )
        bench = Bench(folder, template, fleet, args)
        try:
            yield bench
        finally:
            bench.maker.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    if not wrk_available():
        raise SystemExit("wrk is required: apt-get install -y wrk")
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python", "benchmarks/bench_ingest.py", *given])
    began = time.monotonic()
    results: list[RunResult] = []
    with bench_setup(args) as bench:
        quiet = QuietWaiter(args.quiet_wait)
        for round_number in range(1, args.repeats + 1):
            for workers in args.workers_list:
                for kind, mode in plan(args):
                    busy = quiet.wait()
                    result = bench.measure(kind, mode, workers, busy)
                    results.append(result)
                    log(
                        f"round {round_number}: {kind:9s} {mode:6s} x{workers}: "
                        f"{result.readings_per_s:9,.0f} readings/s "
                        f"{result.requests_per_s:7,.0f} req/s p50 {result.p50_ms:6.1f} ms "
                        f"p99 {result.p99_ms:6.1f} ms server CPU "
                        f"{result.server_cpu_ms_per_request:.2f} ms/req "
                        f"{result.switches_per_request:.0f} switches/req wrk CPU "
                        f"{result.wrk_cpu_percent:.0f}% errors {result.errors} store "
                        f"{'ok' if result.check.ok else result.check.problems} "
                        f"(acked {result.check.acknowledged_readings:,}, in flight "
                        f"{result.check.in_flight_batches}) busy before {busy:.0%}"
                    )
        if args.profile is not None:
            for mode in args.modes_list:
                duration = max(args.duration, 10)
                profile(bench, mode, duration, args.profile, args.workers_list[0])
    report = summarise(results, args)
    print(f"command: {command}\n")
    print(report["table"])
    log(f"total time {time.monotonic() - began:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({**report, "command": command}, indent=2, default=str))
    return 0 if report["all_pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
