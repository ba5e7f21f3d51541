"""Upload speed and memory: cityshare's load_into_table against plain loads of the same CSV.

Generates a realistic CSV (ints, floats, strings with quotes and empties, datetimes,
booleans) in a temporary folder, then measures, as the median of ``--repeat`` runs
interleaved so that machine noise hits all alike:

* SQLite baseline: ``csv.reader`` + ``sqlite3.executemany`` into a fresh file with a
  matching table (same pragmas as the store, no indexes);
* cityshare into a fresh SQLite store, without indexes (``max_indexed_columns=0``) and
  with the default indexes;
* PostgreSQL baseline: ``COPY ... FROM STDIN (FORMAT csv)`` of the file through psycopg
  into a matching table (same columns and ``_id`` key);
* cityshare into PostgreSQL (a fresh schema, dropped afterwards).

Every cityshare figure includes schema inference over the whole file. Then, unless
``--memory-gb 0``, a CSV of about that size is loaded into SQLite in a child process
whose peak RSS is printed.

    python benchmarks/bench_upload.py                   # 1 000 000 rows, 3 runs, 0.25 GB
    python benchmarks/bench_upload.py --rows 200000 --repeat 1 --skip-postgres
    python benchmarks/bench_upload.py --memory-gb 1
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from cityshare.config import Limits
from cityshare.storage import create_store_engine, upgrade_store
from cityshare.storage.engine import SQLITE_PRAGMAS, writer
from cityshare.tables import load_into_table

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
HEADER = [
    "id", "station", "longitude", "latitude", "pm25",
    "count", "observed_at", "active", "street", "note",
]  # fmt: skip
SQL_TYPES = [
    "BIGINT", "TEXT", "DOUBLE PRECISION", "DOUBLE PRECISION", "DOUBLE PRECISION",
    "BIGINT", "TIMESTAMP", "BOOLEAN", "TEXT", "TEXT",
]  # fmt: skip
STREETS = ["Main Street", "Rue de la Paix", "Königstraße", "Calle Mayor", "Via Roma", "Ωμέγα"]


def generate(path: Path, rows: int, seed: int = 42) -> None:
    """Write a realistic CSV of ``rows`` data rows (about 90 bytes each)."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as stream:
        out = csv.writer(stream)
        out.writerow(HEADER)
        for first in range(0, rows, 10_000):
            out.writerows(_row(rng, start, i) for i in range(first, min(rows, first + 10_000)))


def _row(rng: random.Random, start: datetime, i: int) -> list[object]:
    note = "" if i % 3 else f'note {i}, checked "ok"'
    return [
        i + 1,
        f"ST-{rng.randrange(1000):04d}",
        f"{rng.uniform(2.2, 2.5):.6f}",
        f"{rng.uniform(48.8, 48.9):.6f}",
        f"{rng.uniform(0, 80):.2f}",
        rng.randrange(10_000),
        (start + timedelta(seconds=i * 7)).isoformat(),
        "true" if rng.random() < 0.5 else "false",
        rng.choice(STREETS),
        note,
    ]


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def sqlite_baseline(source: Path, folder: Path) -> None:
    """csv.reader + sqlite3.executemany into a matching table, one transaction."""
    database = folder / "baseline.db"
    database.unlink(missing_ok=True)
    connection = sqlite3.connect(database, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        connection.execute(pragma)
    columns = ", ".join(f"c{i} {kind}" for i, kind in enumerate(SQL_TYPES))
    connection.execute(f"CREATE TABLE t (_id INTEGER PRIMARY KEY, {columns})")
    names = ", ".join(f"c{i}" for i in range(len(HEADER)))
    marks = ", ".join("?" * len(HEADER))
    connection.execute("BEGIN")
    with source.open(newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        next(reader)
        connection.executemany(f"INSERT INTO t ({names}) VALUES ({marks})", reader)
    connection.execute("COMMIT")
    connection.close()


def load_csv(engine: Engine, source: Path, limits: Limits) -> None:
    """cityshare's load of ``source`` into a new version table, as an upload does it."""
    with writer(engine).begin() as connection:
        load_into_table(
            connection,
            source=source,
            media_type="text/csv",
            table_name="dsv_1_1",
            schema=None,
            limits=limits,
        )


def cityshare_sqlite(source: Path, folder: Path, limits: Limits) -> None:
    """load_into_table into a fresh SQLite store."""
    database = folder / "store.db"
    for leftover in folder.glob("store.db*"):
        leftover.unlink()
    engine = create_store_engine(f"sqlite:///{database}")
    upgrade_store(engine)
    load_csv(engine, source, limits)
    engine.dispose()


class Postgres:
    """A scratch schema on the local PostgreSQL, dropped by :meth:`close`."""

    def __init__(self, url: str) -> None:
        self.schema = f"bench_{secrets.token_hex(4)}"
        self.url = url
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f'CREATE SCHEMA "{self.schema}"')
        store_url = make_url(url).update_query_dict({"options": f"-csearch_path={self.schema}"})
        self.engine = create_store_engine(store_url.render_as_string(hide_password=False))
        upgrade_store(self.engine)

    def baseline(self, source: Path) -> None:
        """Plain COPY of the CSV file into a matching table."""
        columns = ", ".join(f"c{i} {kind}" for i, kind in enumerate(SQL_TYPES))
        names = ", ".join(f"c{i}" for i in range(len(HEADER)))
        with psycopg.connect(self.url) as connection:
            connection.execute(f'SET search_path TO "{self.schema}"')
            connection.execute("DROP TABLE IF EXISTS baseline")
            connection.execute(f"CREATE TABLE baseline (_id BIGSERIAL PRIMARY KEY, {columns})")
            copy_sql = f"COPY baseline ({names}) FROM STDIN (FORMAT csv, HEADER true)"
            with (
                connection.cursor() as cursor,
                cursor.copy(copy_sql) as copy,
                source.open("rb") as stream,
            ):
                while block := stream.read(1 << 20):
                    copy.write(block)

    def cityshare(self, source: Path, limits: Limits) -> None:
        """load_into_table into the store of the scratch schema."""
        with writer(self.engine).begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS dsv_1_1"))
        load_csv(self.engine, source, limits)

    def close(self) -> None:
        self.engine.dispose()
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{self.schema}" CASCADE')


def measure(cases: dict[str, Callable[[], None]], repeat: int) -> dict[str, float]:
    """Median seconds of each case, runs interleaved."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, action in cases.items():
            times[name].append(timed(action))
    return {name: statistics.median(values) for name, values in times.items()}


def report(engine: str, results: dict[str, float], rows: int, baseline: str) -> None:
    for name, seconds in results.items():
        ratio = "" if name == baseline else f"   ratio {results[baseline] / seconds:.2f}"
        print(f"{engine:<11} {name:<42} {seconds:7.2f} s {rows / seconds:>11,.0f} rows/s{ratio}")


def memory_check(folder: Path, gigabytes: float) -> None:
    source = folder / "memory.csv"
    rows = int(gigabytes * 1024**3 / 92)
    print(f"\nmemory: generating {rows:,} rows (~{gigabytes} GB)...", flush=True)
    generate(source, rows, seed=7)
    size = source.stat().st_size
    command = [sys.executable, __file__, "--child-load", str(source), str(folder)]
    started = time.perf_counter()
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - started
    peak_kb = int(output.split()[-1])
    print(
        f"memory: {size / 1024**3:.2f} GB CSV loaded into SQLite in {seconds:.1f} s "
        f"({rows / seconds:,.0f} rows/s); child peak RSS {peak_kb / 1024:.0f} MB"
    )
    source.unlink()


def child_load(source: Path, folder: Path) -> None:
    """Run in a child process: load ``source`` into SQLite and print the peak RSS (KB)."""
    cityshare_sqlite(source, folder, Limits())
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--memory-gb", type=float, default=0.25, help="0 to skip")
    parser.add_argument("--child-load", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_load:
        child_load(Path(args.child_load[0]), Path(args.child_load[1]))
        return
    with tempfile.TemporaryDirectory(prefix="cityshare-bench-") as name:
        folder = Path(name)
        run(folder, args)


def run(folder: Path, args: argparse.Namespace) -> None:
    source = folder / "upload.csv"
    print(f"generating {args.rows:,} rows x {len(HEADER)} columns...", flush=True)
    generate(source, args.rows)
    print(f"file: {source.stat().st_size / 1024**2:.1f} MB, median of {args.repeat} run(s)\n")
    indexed = Limits()
    # Limits refuses 0 indexed columns; built unvalidated here, to time the load alone.
    no_indexes = Limits.model_construct(**{**indexed.model_dump(), "max_indexed_columns": 0})
    sqlite_results = measure(
        {
            "baseline csv.reader + executemany": lambda: sqlite_baseline(source, folder),
            "cityshare, no indexes": lambda: cityshare_sqlite(source, folder, no_indexes),
            "cityshare, with its 10 indexes": lambda: cityshare_sqlite(source, folder, indexed),
        },
        args.repeat,
    )
    report("sqlite", sqlite_results, args.rows, "baseline csv.reader + executemany")
    if not args.skip_postgres:
        postgres = Postgres(args.postgres_url)
        try:
            postgres_results = measure(
                {
                    "baseline COPY (csv)": lambda: postgres.baseline(source),
                    "cityshare, no indexes": lambda: postgres.cityshare(source, no_indexes),
                    "cityshare, with its 10 indexes": lambda: postgres.cityshare(source, indexed),
                },
                args.repeat,
            )
        finally:
            postgres.close()
        report("postgresql", postgres_results, args.rows, "baseline COPY (csv)")
    if args.memory_gb > 0:
        memory_check(folder, args.memory_gb)


if __name__ == "__main__":
    main()
