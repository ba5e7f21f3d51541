"""Load for the ingestion benchmarks: a fleet of signed devices, request files, wrk.

Shared by bench_ingest.py and bench_sensor_query.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    CitySite,
    log,
    process_cpu_seconds,
)

DATASET = "live"
ORG = "city"
INGEST_PATH = "/api/v1/ingest"
TARGET_READINGS_PER_S = 200_000.0
TARGET_VS_BASELINE = 0.30
TARGET_SINGLE_RPS = 5_000.0
KINDS = ("cityshare", "baseline")
MODES = ("batch", "single")
# Requests per second assumed before anything is measured (sizes the first request files).
FIRST_GUESS_RPS = {"batch": 3_000.0, "single": 12_000.0}
TICK_SECONDS = 1  # a device reads all its streams once a second
HISTORY_DAYS = 7  # the first reading is this long before the benchmark starts

# --------------------------------------------------------------------------- the fleet


@dataclass(frozen=True)
class Fleet:
    """The devices a benchmark drives: their ids, private keys (PEM) and streams.

    Reading ``j`` of device ``d`` goes to stream ``j % streams`` at tick ``j // streams``
    (``t0 + tick`` seconds), so every (stream, time) is distinct as long as each device's
    reading counter only grows (see :class:`RequestMaker`).
    """

    uids: tuple[str, ...]
    device_ids: tuple[int, ...]
    key_pems: tuple[bytes, ...]
    stream_names: tuple[str, ...]
    stream_ids: tuple[tuple[int, ...], ...]
    t0: int

    def baseline_config(self, db: Path) -> dict[str, Any]:
        """What the baseline app needs: its file and each device's stream ids by name."""
        return {
            "db": str(db),
            "devices": {
                uid: {"id": device_id, "streams": dict(zip(self.stream_names, ids, strict=True))}
                for uid, device_id, ids in zip(
                    self.uids, self.device_ids, self.stream_ids, strict=True
                )
            },
        }


def stream_name(index: int) -> str:
    return f"s{index:02d}"


def build_fleet(
    city: CitySite, dataset: str, devices: int, streams: int, *, prefix: str = "sensor"
) -> Fleet:
    """Register ``devices`` devices (own keys) feeding ``streams`` number streams each into the
    sensor dataset ``dataset`` (created here, open), through cityshare's services."""
    from cityshare import keys
    from cityshare.catalogue import datasets
    from cityshare.streams import datastreams
    from cityshare.streams import devices as device_service

    datasets.create_dataset(
        city.site,
        city.admin,
        organisation=ORG,
        name=dataset,
        title=dataset,
        visibility="open",
        kind="sensor",
    )
    uids: list[str] = []
    pems: list[bytes] = []
    stream_ids: list[tuple[int, ...]] = []
    names = tuple(stream_name(index) for index in range(streams))
    for number in range(devices):
        key = keys.generate_private_key()
        registered = device_service.register_device(
            city.site,
            city.admin,
            organisation=ORG,
            name=f"{prefix}-{number:04d}",
            public_key=keys.public_key_text(key),
            location={"type": "Point", "coordinates": [-1.55 + number / 1000, 53.8]},
        )
        ids = []
        for name in names:
            created = datastreams.create_stream(
                city.site,
                city.admin,
                dataset,
                device=registered.uid,
                name=name,
                observed_property="no2",
                unit="µg/m³",
                value_type="number",
            )
            ids.append(int(created.id))
        uids.append(registered.uid)
        pems.append(keys.private_key_pem(key))
        stream_ids.append(tuple(ids))
    with contextlib.closing(sqlite3.connect(city.data_dir / "cityshare.db")) as connection:
        device_ids = dict(connection.execute("SELECT uid, id FROM devices").fetchall())
    start = int(time.time()) - HISTORY_DAYS * 86400
    return Fleet(
        uids=tuple(uids),
        device_ids=tuple(int(device_ids[uid]) for uid in uids),
        key_pems=tuple(pems),
        stream_names=names,
        stream_ids=tuple(stream_ids),
        t0=start,
    )


# --------------------------------------------------------------------------- signed requests

_GENERATOR: dict[str, Any] = {}


def _init_generator(fleet: Fleet) -> None:
    """Generator process start-up: load the devices' private keys once."""
    from cityshare.keys import load_private_key

    _GENERATOR["fleet"] = fleet
    _GENERATOR["keys"] = [load_private_key(pem) for pem in fleet.key_pems]


@dataclass(frozen=True)
class GenerationJob:
    """Requests for one wrk thread: ``(device index, first reading index)`` each."""

    path_prefix: str
    requests: list[tuple[int, int]]
    per_request: int


def _write_requests(job: GenerationJob) -> int:
    """Build, sign and frame the job's requests into ``PREFIX.bin`` and ``PREFIX.idx``
    (sizes, one a line); the body bytes, and the signature over them, are what a device
    would send."""
    from cityshare.streams.client import batch_body, http_headers, rfc3339

    fleet: Fleet = _GENERATOR["fleet"]
    private_keys = _GENERATOR["keys"]
    names = fleet.stream_names
    width = len(names)
    sent_at = rfc3339(datetime.now(UTC))
    times: dict[int, str] = {}
    sizes: list[str] = []
    with open(job.path_prefix + ".bin", "wb") as out:
        for device, first in job.requests:
            readings = []
            for index in range(first, first + job.per_request):
                tick, stream = divmod(index, width)
                stamp = times.get(tick)
                if stamp is None:
                    moment = datetime.fromtimestamp(fleet.t0 + tick * TICK_SECONDS, UTC)
                    stamp = times[tick] = rfc3339(moment)
                value = round(20.0 + ((index * 7919 + device * 104729) % 4000) / 100.0, 2)
                readings.append((names[stream], stamp, value))
            body = batch_body(readings, sent_at=sent_at)
            headers = http_headers(fleet.uids[device], private_keys[device], body)
            head = f"POST {INGEST_PATH} HTTP/1.1\r\nHost: {HOST}\r\n"
            head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            head += f"Content-Length: {len(body)}\r\n\r\n"
            request = head.encode() + body
            out.write(request)
            sizes.append(str(len(request)))
    Path(job.path_prefix + ".idx").write_text("\n".join(sizes) + "\n")
    return len(sizes)


class RequestMaker:
    """Makes request files for wrk in two generator processes; remembers, per device, the
    next reading index so that no (stream, time) is ever sent twice."""

    def __init__(self, fleet: Fleet, folder: Path) -> None:
        self.fleet = fleet
        self.folder = folder
        self.next_reading = [0] * len(fleet.uids)
        self._turn = 0
        self._serial = 0
        self._pool = ProcessPoolExecutor(
            max_workers=2,
            mp_context=get_context("spawn"),
            initializer=_init_generator,
            initargs=(fleet,),
        )

    def make(self, count: int, per_request: int, threads: int) -> str:
        """``count`` fresh signed requests of ``per_request`` readings, split over ``threads``
        files (one per wrk thread); returns the files' common prefix."""
        self._serial += 1
        prefix = str(self.folder / f"requests-{self._serial:03d}-")
        jobs = [GenerationJob(f"{prefix}{t}", [], per_request) for t in range(threads)]
        devices = len(self.fleet.uids)
        for number in range(count):
            device = self._turn % devices
            self._turn += 1
            jobs[number % threads].requests.append((device, self.next_reading[device]))
            self.next_reading[device] += per_request
        newest = self.fleet.t0 + max(self.next_reading) // len(self.fleet.stream_names)
        if newest > time.time():
            raise RuntimeError("the fleet has run out of past times: lower the run sizes")
        list(self._pool.map(_write_requests, jobs))
        return prefix

    def close(self) -> None:
        """Stop the generator processes."""
        self._pool.shutdown(cancel_futures=True)


def remove_request_files(prefix: str) -> None:
    """Delete one set of request files (they can be hundreds of MB)."""
    folder = Path(prefix).parent
    for path in folder.glob(Path(prefix).name + "*"):
        if not path.name.endswith(".acked"):
            path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- wrk

LUA = r"""
-- Sends each pre-built request once (PREFIX<thread>.bin, sizes in .idx); records the nonce
-- of every 201 acknowledgement in PREFIX<thread>.acked; counts 200 (a batch acknowledged
-- again) and refusals; says when a thread ran out of requests and had to reuse some.
local prefix = "@PREFIX@"
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  local file = assert(io.open(prefix .. tid .. ".bin", "rb"))
  local data = file:read("*a")
  file:close()
  local pos = 1
  for line in io.lines(prefix .. tid .. ".idx") do
    local size = tonumber(line)
    reqs[#reqs + 1] = string.sub(data, pos, pos + size - 1)
    pos = pos + size
  end
  data = nil
  collectgarbage()
  acked = assert(io.open(prefix .. tid .. ".acked", "w"))
  acked:setvbuf("full")
  sent, created, again, refused, wrapped = 0, 0, 0, 0, 0
end

function request()
  sent = sent + 1
  local index = sent
  if index > #reqs then
    wrapped = 1
    index = (index - 1) % #reqs + 1
  end
  return reqs[index]
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
    local nonce = string.match(body, '"nonce":"([^"]*)"')
    if nonce then acked:write(nonce, "\n") end
  elseif status == 200 then
    again = again + 1
  else
    refused = refused + 1
  end
end

function done(summary, latency, requests)
  local totals = {sent = 0, created = 0, again = 0, refused = 0, wrapped = 0}
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do totals[name] = totals[name] + thread:get(name) end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
    .. '"max_us": %d, "sent": %d, "created": %d, "again": %d, "refused": %d, '
    .. '"wrapped": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    totals.sent, totals.created, totals.again, totals.refused, totals.wrapped))
end
"""


@dataclass
class WrkIngest:
    """One wrk run of POST requests: counts, rate and latency, and wrk's own CPU time."""

    duration_s: float
    requests: int
    sent: int
    created: int
    again: int
    refused: int
    socket_errors: int
    wrapped: bool
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    wrk_cpu_s: float
    acked_files: list[str] = field(default_factory=list)
    server_cpu_s: float = float("nan")
    server_switches: int = 0

    @property
    def created_per_s(self) -> float:
        """Acknowledged (201) requests per second."""
        return self.created / self.duration_s if self.duration_s else float("nan")

    def acked_nonces(self) -> list[str]:
        """The nonces of every batch acknowledged with 201."""
        nonces: list[str] = []
        for name in self.acked_files:
            with contextlib.suppress(FileNotFoundError):
                nonces += Path(name).read_text().split()
        return nonces


def run_ingest_wrk(
    base_url: str,
    prefix: str,
    *,
    duration: float,
    connections: int,
    threads: int,
    timeout: float = 10.0,
) -> WrkIngest:
    """Send the request files at ``prefix`` with wrk for ``duration`` seconds."""
    script = Path(prefix + "wrk.lua")
    script.write_text(LUA.replace("@PREFIX@", prefix))
    output = Path(prefix + "wrk.out")
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s"]
    command += [f"--timeout={timeout:g}s", "-s", str(script), base_url]
    with output.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=sink)
        usage = _wait_with_usage(process.pid, duration + 120)
    text = output.read_text(errors="replace")
    line = next((x for x in text.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result:\n{text[-3000:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return WrkIngest(
        duration_s=data["duration_us"] / 1e6,
        requests=data["requests"],
        sent=data["sent"],
        created=data["created"],
        again=data["again"],
        refused=data["refused"],
        socket_errors=sum(data[key] for key in ("connect", "read", "write", "timeout")),
        wrapped=bool(data["wrapped"]),
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        wrk_cpu_s=usage,
        acked_files=[f"{prefix}{thread}.acked" for thread in range(threads)],
    )


def _wait_with_usage(pid: int, timeout: float) -> float:
    """Wait for child ``pid`` (kill it after ``timeout``); its user + system CPU seconds."""
    deadline = time.monotonic() + timeout
    while True:
        done, _status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return float(usage.ru_utime + usage.ru_stime)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            _done, _status, usage = os.wait4(pid, 0)
            raise RuntimeError("wrk did not finish in time")
        time.sleep(0.05)


def context_switches(pids: Sequence[int]) -> int:
    """Context switches so far (voluntary and not) of every thread of ``pids``: many per
    request mean threads handing the GIL to each other."""
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    for line in (task / "status").read_text().splitlines():
                        if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")):
                            total += int(line.split()[1])
    return total


class IngestLoad:
    """Drives ``POST /api/v1/ingest`` at full speed with fresh signed requests.

    Each call makes request files sized from the rate seen so far (1.5x the requests the
    run should need, plus a margin); a run that still runs out (``wrapped``: some requests
    sent twice, acknowledged with 200) is repeated once with twice as many.
    """

    def __init__(
        self,
        maker: RequestMaker,
        *,
        per_request: int,
        connections: int,
        threads: int = 2,
        guess_rps: float | None = None,
    ) -> None:
        self.maker = maker
        self.per_request = per_request
        self.connections = connections
        self.threads = threads
        self.rate = guess_rps or FIRST_GUESS_RPS["batch" if per_request > 1 else "single"]
        self.runs: list[WrkIngest] = []

    def run(self, base_url: str, duration: float, *, cpu_pids: Sequence[int] = ()) -> WrkIngest:
        """One wrk run of ``duration`` seconds (retried once if it runs out of requests);
        the CPU seconds and context switches of ``cpu_pids`` during it are stored on the
        result."""
        for attempt in (1, 2):
            count = int(self.rate * duration * 1.5 * attempt) + 8 * self.connections
            prefix = self.maker.make(count, self.per_request, self.threads)
            cpu_before = process_cpu_seconds(cpu_pids)
            switches_before = context_switches(cpu_pids)
            try:
                result = run_ingest_wrk(
                    base_url,
                    prefix,
                    duration=duration,
                    connections=self.connections,
                    threads=self.threads,
                )
            finally:
                remove_request_files(prefix)
            result.server_cpu_s = process_cpu_seconds(cpu_pids) - cpu_before
            result.server_switches = context_switches(cpu_pids) - switches_before
            self.runs.append(result)
            self.rate = max(self.rate * 0.5, result.created_per_s)
            if not result.wrapped:
                return result
            log(f"  wrk ran out of requests ({count:,}); again with more")
        return result

    def acked_nonces(self) -> list[str]:
        """Nonces of every batch acknowledged over all runs so far."""
        nonces: list[str] = []
        for result in self.runs:
            nonces += result.acked_nonces()
        return nonces
