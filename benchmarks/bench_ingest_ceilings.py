"""What any server could reach on this machine: the ceilings under issue 3's ingest targets.

Issue 3 asks for 200 000 readings/s in HTTP batches of 100 and 5 000 single-reading
requests/s. This script measures two ceilings that no ingest server on the machine can pass,
however it is written:

* **storage**: readings stored in SQLite by C code alone, with nothing else running: tuples
  built before the clock starts, then only ``executemany`` and ``COMMIT`` are timed, into the
  ``observations`` table of ``baseline_ingest.py`` (the shape of cityshare's), WAL,
  ``synchronous=FULL`` (an acknowledged reading is durable) and, for information, ``NORMAL``.
  Transactions of 100 readings (one per request), 1 600 (16 requests per group commit, as
  cityshare does) and 20 000.
* **http**: a bare ASGI callable (no framework, no middleware, no database) under uvicorn
  (uvloop, httptools, access log off) answering ``POST /ingest`` with 201 and a fixed JSON
  body, under ``wrk -c64``: the ``empty`` variant only reads the body; ``verify-1`` and
  ``verify-100`` also check the request's Ed25519 signature and parse the JSON with orjson,
  the least a signed request needs before its readings can be stored, for one reading and
  for a batch of 100. 1 and 2 workers.

    python benchmarks/bench_ingest_ceilings.py            # ~3 minutes
    python benchmarks/bench_ingest_ceilings.py --readings 200000 --duration 3 --repeats 1

Only 127.0.0.1; servers are stopped by process group; the temporary folder is removed.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_ingest import INSERT_SQL, TABLE_SQL
from common import (
    HOST,
    QuietWaiter,
    Server,
    add_run_options,
    format_table,
    free_port,
    log,
    median,
    running,
    stop_on_sigterm,
    temp_folder,
)

CONFIG_ENV = "BENCH_CEILING_APP"
TRANSACTIONS = (100, 1_600, 20_000)
# the bare app's variants: readings per request body
VARIANTS = {"empty": 1, "verify-1": 1, "verify-100": 100}
WRK_LUA = r"""
wrk.method = "POST"
wrk.body = io.open("@BODY@", "rb"):read("*a")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Device-Id"] = "dev-1"
wrk.headers["X-Signature"] = "@SIGNATURE@"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "errors": %d, '
    .. '"status": %d, "p99_us": %d}\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(99)))
end
"""


# --------------------------------------------------------------------------- the bare app


def app() -> Any:
    """The bare ASGI callable (a uvicorn factory); ``verify`` comes from the environment."""
    import orjson
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    config = json.loads(os.environ[CONFIG_ENV])
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(config["public_key"]))
    verify = bool(config["verify"])
    answer = b'{"accepted":1}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"14")]

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] == "GET":  # readiness probe
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": answer})
            return
        if verify:
            signature = dict(scope["headers"])[b"x-signature"]
            key.verify(base64.b64decode(signature), body)
            document = orjson.loads(body)
            _rows = [(r["stream"], r["time"], r["value"]) for r in document["readings"]]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return asgi


# --------------------------------------------------------------------------- storage


def _batches(readings: int, per_transaction: int) -> Iterator[list[tuple[Any, ...]]]:
    """Readings of 100 devices × 10 streams in arrival order, one list per transaction."""
    now = time.time_ns() // 1000
    base = now - 86_400_000_000
    made = 0
    while made < readings:
        rows = []
        for index in range(made, min(readings, made + per_transaction)):
            request, position = divmod(index, 100)
            device = request % 100
            stream = device * 10 + position % 10
            moment = base + (request // 100) * 10_000_000 + position // 10 * 1_000_000
            rows.append((stream, moment, 20.5, None, now, device, 1, request, True))
        made += len(rows)
        yield rows


def storage_rate(path: Path, readings: int, per_transaction: int, synchronous: str) -> float:
    """Readings/s of ``executemany`` + ``COMMIT`` alone (row building is not timed)."""
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute(TABLE_SQL)
        elapsed = 0.0
        for rows in _batches(readings, per_transaction):
            started = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(INSERT_SQL, rows)
            connection.execute("COMMIT")
            elapsed += time.perf_counter() - started
        stored = connection.execute("SELECT count(*) FROM observations").fetchone()[0]
        if stored != readings:
            raise RuntimeError(f"stored {stored} of {readings} readings")
        return readings / elapsed
    finally:
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


# --------------------------------------------------------------------------- http


@dataclass
class HttpRun:
    """One wrk run against the bare app."""

    variant: str
    workers: int
    rps: float
    p99_ms: float
    errors: int


def signed_request(folder: Path, readings: int) -> tuple[Path, str, str]:
    """A request body of ``readings`` readings, its base64 signature, and the public key
    (base64)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = Ed25519PrivateKey.generate()
    body = json.dumps(
        {
            "sent_at": "2026-12-05T06:00:00Z",
            "nonce": "n-1",
            "readings": [
                {"stream": f"s{n % 10}", "time": f"2026-12-05T06:{n // 10:02d}:00Z", "value": 21.5}
                for n in range(readings)
            ],
        }
    ).encode()
    path = folder / f"body-{readings}.json"
    path.write_bytes(body)
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = base64.b64encode(private.sign(body)).decode()
    return path, signature, base64.b64encode(public).decode()


def http_run(folder: Path, variant: str, workers: int, duration: float) -> HttpRun:
    """Serve the bare app and load it with wrk for ``duration`` seconds."""
    body, signature, public = signed_request(folder, VARIANTS[variant])
    port = free_port()
    env = dict(os.environ)
    env[CONFIG_ENV] = json.dumps({"public_key": public, "verify": variant != "empty"})
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent)
    command = [sys.executable, "-m", "uvicorn", "bench_ingest_ceilings:app", "--factory"]
    command += ["--host", HOST, "--port", str(port), "--workers", str(workers)]
    command += ["--no-access-log", "--log-level", "warning"]
    server = Server(f"bare-{variant}", command, port, folder / f"{variant}-{workers}.log", env)
    script = folder / "post.lua"
    script.write_text(WRK_LUA.replace("@BODY@", str(body)).replace("@SIGNATURE@", signature))
    with running(server, "/ingest", timeout=30):
        wrk = ["wrk", "-t2", "-c64", f"-d{max(1, round(duration))}s", "-s", str(script)]
        done = subprocess.run(
            [*wrk, f"{server.base_url}/ingest"], capture_output=True, text=True, check=False
        )
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    return HttpRun(
        variant=variant,
        workers=workers,
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p99_ms=data["p99_us"] / 1000,
        errors=data["errors"] + data["status"],
    )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=1_000_000, help="readings per storage run")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each (medians)")
    parser.add_argument("--skip-storage", action="store_true", help="only the HTTP ceiling")
    add_run_options(parser, quiet_wait=120.0)
    return parser.parse_args(argv)


def measure_storage(folder: Path, args: argparse.Namespace, quiet: QuietWaiter) -> list[list[Any]]:
    """The storage ceiling, one row per (synchronous, transaction size)."""
    table = []
    for synchronous in ("FULL", "NORMAL"):
        for size in TRANSACTIONS:
            rates = []
            for _ in range(args.repeats):
                quiet.wait()
                rates.append(storage_rate(folder / "ceiling.db", args.readings, size, synchronous))
            log(f"storage {synchronous} x{size}: {median(rates):,.0f} readings/s")
            table.append([synchronous, size, median(rates), " ".join(f"{r:,.0f}" for r in rates)])
    return table


def measure_http(folder: Path, args: argparse.Namespace, quiet: QuietWaiter) -> list[list[Any]]:
    """The HTTP ceiling, one row per (variant, workers); runs interleaved round by round."""
    runs: dict[tuple[str, int], list[HttpRun]] = {}
    for _ in range(args.repeats):
        for variant in VARIANTS:
            for workers in (1, 2):
                quiet.wait()
                run = http_run(folder, variant, workers, args.duration)
                log(f"http {variant} x{workers}: {run.rps:,.0f} req/s, p99 {run.p99_ms:.1f} ms")
                runs.setdefault((variant, workers), []).append(run)
    return [
        [
            variant,
            workers,
            median([r.rps for r in done]),
            median([r.p99_ms for r in done]),
            sum(r.errors for r in done),
            " ".join(f"{r.rps:,.0f}" for r in done),
        ]
        for (variant, workers), done in runs.items()
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    quiet = QuietWaiter(args.quiet_wait)
    with temp_folder("cityshare-ceilings-", keep=args.keep) as folder:
        storage = [] if args.skip_storage else measure_storage(folder, args, quiet)
        http = measure_http(folder, args, quiet)
    print(f"Storage ceiling: {args.readings:,} readings per run, medians of {args.repeats}.\n")
    print(format_table(["synchronous", "readings/commit", "readings/s", "runs"], storage))
    print(f"\nHTTP ceiling: wrk -t2 -c64 -d{args.duration:g}s, medians of {args.repeats}.\n")
    print(format_table(["app", "workers", "req/s", "p99 ms", "errors", "runs"], http))
    if args.json:
        args.json.write_text(json.dumps({"storage": storage, "http": http}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
