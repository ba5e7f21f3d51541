"""Helpers shared by the benchmarks: sites and datasets, server processes, wrk, tables.

Everything talks to 127.0.0.1 only. Servers are started in their own process group
and always stopped by that group's id (see :class:`Server`), so a failed or
interrupted run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


# --------------------------------------------------------------------------- folders


@contextlib.contextmanager
def temp_folder(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary folder removed afterwards (unless ``keep``)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        if keep:
            print(f"kept {folder}", flush=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def stop_on_sigterm() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit so that every ``finally`` (servers, temporary
    folders, PostgreSQL databases) runs when the benchmark is stopped."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGHUP, _exit)


def log(message: str) -> None:
    """A timestamped progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- machine load


def _cpu_times() -> tuple[int, int]:
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields), idle


def cpu_busy(seconds: float = 2.0) -> float:
    """Share (0..1) of all cores busy over ``seconds`` (everything on the machine)."""
    total0, idle0 = _cpu_times()
    time.sleep(seconds)
    total1, idle1 = _cpu_times()
    spent = max(1, total1 - total0)
    return 1.0 - (idle1 - idle0) / spent


class QuietWaiter:
    """Before each run, write out what earlier runs left dirty in the page cache (their
    writeback would slow this run's fsyncs), then wait until the machine is under
    ``threshold`` busy, at most ``per_run`` seconds a time and ``budget`` seconds over the
    whole benchmark (so the run time stays bounded). Other work on a 2-core machine skews
    every figure."""

    def __init__(self, budget: float, per_run: float = 30.0, threshold: float = 0.15) -> None:
        self.left = budget
        self.per_run = per_run
        self.threshold = threshold

    def wait(self) -> float:
        """The busy share (0..1) seen last, after waiting as allowed."""
        began = time.monotonic()
        os.sync()
        deadline = began + min(self.per_run, max(0.0, self.left))
        busy = cpu_busy(1.0)
        while busy > self.threshold and time.monotonic() < deadline:
            log(f"machine {busy:.0%} busy before a run: waiting for quiet")
            busy = cpu_busy(3.0)
        self.left -= time.monotonic() - began
        return busy


def process_cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (those still alive)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- cityshare


def check_loader() -> None:
    """Fail early with a clear message when the table loader is not importable yet."""
    try:
        from cityshare.tables import load_into_table  # noqa: F401
    except ImportError as error:
        raise SystemExit(
            f"cityshare.tables.load_into_table is not importable yet ({error}); "
            "the benchmarks publish through it."
        ) from None


@dataclass
class CitySite:
    """A cityshare site made for a benchmark: its data folder, URL and admin."""

    data_dir: Path
    database_url: str | None
    site: Any
    admin: Any

    def env(self) -> dict[str, str]:
        """Environment for a ``cityshare serve`` of this site."""
        env = dict(os.environ)
        env["CITYSHARE_DATA_DIR"] = str(self.data_dir)
        env.pop("CITYSHARE_DATABASE_URL", None)
        if self.database_url:
            env["CITYSHARE_DATABASE_URL"] = self.database_url
        return env

    def close(self) -> None:
        """Release the in-process engine."""
        self.site.close()


def serve_one_worker(city: CitySite, folder: Path, **settings: str) -> Server:
    """A one-worker ``cityshare serve`` of ``city`` without rate limits (they are not
    what these benchmarks measure); ``settings`` add ``CITYSHARE_*`` variables."""
    port = free_port()
    env = city.env()
    for limit in ("TOKEN", "ADDRESS"):
        env[f"CITYSHARE_RATE_LIMIT_{limit}_PER_SECOND"] = "0"
    env.update({f"CITYSHARE_{name.upper()}": value for name, value in settings.items()})
    command = [sys.executable, "-m", "cityshare", "serve", "--port", str(port), "--workers", "1"]
    return Server("cityshare", command, port, folder / f"serve-{port}.log", env=env)


def make_city_site(data_dir: Path, database_url: str | None, org: str = "city") -> CitySite:
    """A fresh site (admin user, one organisation) as ``cityshare init`` + ``org create``."""
    from cityshare.accounts import organisations
    from cityshare.accounts.console import console_actor, initialise
    from cityshare.config import Settings
    from cityshare.runtime import open_site

    settings = Settings(data_dir=data_dir, database_url=database_url)
    site = open_site(settings)
    initialise(site, "admin")
    admin = console_actor(site, "admin")
    organisations.create_organisation(site, admin, name=org, title=org.title())
    return CitySite(data_dir=data_dir, database_url=database_url, site=site, admin=admin)


def publish_open_dataset(
    city: CitySite,
    name: str,
    source: Path,
    schema: dict[str, Any] | None = None,
    org: str = "city",
) -> dict[str, Any]:
    """Create an open dataset and publish ``source`` (CSV) as its first version."""
    from cityshare.catalogue import datasets, versions

    datasets.create_dataset(
        city.site, city.admin, organisation=org, name=name, title=name, visibility="open"
    )
    return dict(
        versions.publish_version(
            city.site,
            city.admin,
            name,
            source=source,
            media_type="text/csv",
            schema=schema,
            source_name=source.name,
        )
    )


def version_table_name(city: CitySite, name: str) -> str:
    """The SQL table holding the current version of dataset ``name``."""
    from cityshare.catalogue.versions import open_version

    return str(open_version(city.site, city.admin, name, None).table.table.name)


# --------------------------------------------------------------------------- PostgreSQL


@contextlib.contextmanager
def postgres_database(admin_url: str = DEFAULT_PG_ADMIN_URL) -> Iterator[str]:
    """A fresh PostgreSQL database ``cityshare_bench_<random>``, dropped afterwards."""
    import psycopg

    name = f"cityshare_bench_{secrets.token_hex(4)}"
    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = conninfo.rsplit("/", 1)[0]
    try:
        yield f"postgresql+psycopg://{base.removeprefix('postgresql://')}/{name}"
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_available(admin_url: str = DEFAULT_PG_ADMIN_URL) -> bool:
    """True when the PostgreSQL server answers."""
    try:
        import psycopg

        conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, connect_timeout=3):
            return True
    except Exception:
        return False


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Server:
    """A server subprocess in its own process group, stopped by that group's id."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        port: int,
        log_file: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.log_file = log_file
        self._log = log_file.open("wb")
        self.process = subprocess.Popen(
            list(command),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        """Wait until ``path`` answers 200 (raise with the server's log otherwise)."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(self.base_url + path, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError as error:
                last = error
            time.sleep(0.2)
        tail = self.log_file.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready ({last}):\n{tail}")

    def server_pids(self) -> list[int]:
        """The pids in this server's process group (the supervisor and its workers)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getpgid(int(entry.name)) == self.process.pid:
                    pids.append(int(entry.name))
            except (ProcessLookupError, PermissionError):
                continue
        return sorted(pids)

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL it if it lingers."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        # workers of a supervisor that died first
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()


@contextlib.contextmanager
def running(server: Server, ready_path: str, timeout: float = 60.0) -> Iterator[Server]:
    """Start-to-stop scope of a server: ready on entry, stopped on exit whatever happens."""
    try:
        server.wait_ready(ready_path, timeout)
        yield server
    finally:
        server.stop()


def http_get_json(url: str, timeout: float = 30.0, authorization: str = "") -> Any:
    """GET ``url`` and decode its JSON body (raise on a non-200 status)."""
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.get(url, timeout=timeout, headers=headers)
    response.raise_for_status()
    return response.json()


# --------------------------------------------------------------------------- wrk

_WRK_SCRIPT = r"""
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local counter = 1
local threads = {}

function setup(thread)
  thread:set("offset", #threads * 7919)
  table.insert(threads, thread)
end

function init(args)
  counter = offset or 0
end

local authorization = "%(authorization)s"
if authorization ~= "" then wrk.headers["Authorization"] = authorization end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter * 613) %% #paths + 1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "bytes": %%d, '
    .. '"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d, '
    .. '"p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d, "mean_us": %%f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


@dataclass
class WrkResult:
    """One wrk run."""

    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    busy_before: float = float("nan")
    cpu_ms_per_request: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    base_url: str,
    paths: Sequence[str],
    folder: Path,
    *,
    duration: float,
    connections: int = 16,
    threads: int = 2,
    timeout: float = 5.0,
    authorization: str = "",
) -> WrkResult:
    """Run wrk against ``base_url`` rotating over ``paths``; latencies in milliseconds.
    ``authorization`` is sent as the Authorization header of every request (a token)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths_file = folder / "wrk-paths.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    script = folder / "wrk-rotate.lua"
    script.write_text(_WRK_SCRIPT % {"paths": str(paths_file), "authorization": authorization})
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={timeout:g}s",
        "-s",
        str(script),
        base_url,
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    for line in completed.stdout.splitlines():
        if line.startswith("WRKJSON "):
            data = json.loads(line.removeprefix("WRKJSON "))
            break
    else:
        raise RuntimeError(f"wrk gave no result:\n{completed.stdout}\n{completed.stderr}")
    errors = sum(data[key] for key in ("connect", "read", "write", "status", "timeout"))
    return WrkResult(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        requests=data["requests"],
        errors=errors,
    )


# --------------------------------------------------------------------------- reporting


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-style markdown table with right-aligned numbers."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [
        max(len(str(header)), *(len(row[index]) for row in cells)) if cells else len(header)
        for index, header in enumerate(headers)
    ]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in cells:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}"
    return str(value)


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def add_run_options(parser: Any, *, quiet_wait: float) -> None:
    """The options every load benchmark shares: waiting for quiet, JSON out, keep files."""
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=quiet_wait,
        help="seconds, over the whole benchmark, to wait for an idle machine before runs",
    )
    parser.add_argument("--json", type=Path, default=None, help="write all results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")


def worker_counts(text: str) -> list[int]:
    """``--workers 1,2`` as a list of worker counts."""
    return [int(value) for value in text.split(",") if value.strip()]
