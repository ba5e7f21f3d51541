"""MQTT ingestion end to end: 1 000 devices publish signed batches with QoS 1 through a
real Mosquitto to the cityshare ingest worker; readings/s stored, with zero loss.

Target (issue 3): at least 20 000 readings/s end to end, and every reading the broker
acknowledged is stored exactly once. Each device has one stream and publishes
``--messages`` signed batches of ``--readings`` readings (a device buffering its samples
for a second or so). The clock runs from the first publish until the store holds every
reading.

Receipts (issue 17): after each batch is committed, the worker publishes a receipt to the
device's ``cityshare/devices/{uid}/receipts``; the devices here subscribe to theirs and
count them. ``--receipts compare`` (the default) runs every round twice, with receipts
off (``CITYSHARE_MQTT_RECEIPTS=false``, devices not subscribed) and on, alternating which
goes first, to measure their cost in one run (target: under 10 % of throughput, on the
medians). Each run also reports the CPU seconds of each part (the worker's main thread,
its other threads, the broker, the devices), so that the cost can be placed. The fleet
is registered once; each run starts from a copy of that site. Usage::

    python benchmarks/bench_mqtt.py --devices 1000 --messages 10 --readings 50 --rounds 5
    python benchmarks/bench_mqtt.py --receipts off     # as before receipts
"""

from __future__ import annotations

import argparse
import getpass
import multiprocessing
import os
import resource
import secrets
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from common import (
    CitySite,
    QuietWaiter,
    Server,
    format_table,
    free_port,
    log,
    make_city_site,
    process_cpu_seconds,
    stop_on_sigterm,
    temp_folder,
)
from mqtt_load import close_all, open_connection, publish_rounds, wait_for_receipts

TARGET_READINGS_PER_SECOND = 20_000
TARGET_RECEIPT_COST = 0.10
WORKER_USER = "cityshare-ingest"


def register_fleet(city: CitySite, devices: int) -> list[tuple[str, str, Any]]:
    """Register ``devices`` devices with one stream each: (uid, MQTT password, key)."""
    from cityshare import keys
    from cityshare.catalogue import datasets
    from cityshare.streams import datastreams
    from cityshare.streams import devices as device_service

    datasets.create_dataset(
        city.site, city.admin, organisation="city", name="fleet", visibility="open", kind="sensor"
    )
    fleet = []
    for number in range(devices):
        key = keys.generate_private_key()
        created = device_service.register_device(
            city.site,
            city.admin,
            organisation="city",
            name=f"d{number:04d}",
            public_key=keys.public_key_text(key),
        )
        datastreams.create_stream(
            city.site,
            city.admin,
            "fleet",
            device=created.uid,
            name="v",
            observed_property="vehicle_count",
            unit="vehicles",
        )
        fleet.append((created.uid, created.mqtt_password, key))
    return fleet


def signed_messages(key: Any, index: int, messages: int, readings: int) -> list[bytes]:
    """A device's signed MQTT payloads, every reading at its own time."""
    from cityshare.streams.client import batch_body, mqtt_payload

    base = datetime.now(UTC) - timedelta(hours=1) + timedelta(microseconds=index)
    out = []
    for number in range(messages):
        start = number * readings
        body = batch_body(
            [("v", base + timedelta(seconds=start + i), float(i)) for i in range(readings)]
        )
        out.append(mqtt_payload(key, body))
    return out


def publisher(
    port: int,
    share: list[tuple[str, str, list[bytes]]],
    start_at: float,
    results: Any,
    receipts: bool,
) -> None:
    """One publishing process: connect its devices, wait for the start, publish everything;
    with ``receipts``, then wait for every receipt. Puts (PUBACKs, receipts, stored
    receipts, time of the last receipt, CPU seconds from the start to the last receipt)."""
    connections = [
        open_connection("127.0.0.1", port, uid, password, receipts=receipts)
        for uid, password, _ in share
    ]
    topics = {uid: f"cityshare/devices/{uid}/readings" for uid, _, _ in share}
    payloads = [items for _, _, items in share]
    time.sleep(max(0.0, start_at - time.time()))
    cpu = _own_cpu_seconds()
    acked = publish_rounds(connections, payloads, topics)
    received = wait_for_receipts(connections, acked) if receipts else 0
    cpu = _own_cpu_seconds() - cpu
    stored_receipts = sum(c.stored_receipts for c in connections)
    results.put((acked, received, stored_receipts, time.time(), cpu))
    close_all(connections)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by process ``pid``: its main thread, and
    all its other threads (in the worker: paho's network thread, SQLite's watchdog)."""
    main, others = 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if task.name == str(pid):
            main += seconds
        else:
            others += seconds
    return main, others


def stored(city: CitySite) -> int:
    from cityshare.storage.schema import observations

    with city.site.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(observations)).scalar_one())


def refusals(city: CitySite) -> int:
    from cityshare.storage.schema import ingest_refusals

    with city.site.engine.connect() as connection:
        total = connection.execute(select(func.sum(ingest_refusals.c.count))).scalar()
    return int(total or 0)


def start_broker(city: CitySite, folder: Path) -> tuple[Server, str, int]:
    from cityshare.mqtt.address import BrokerAddress
    from cityshare.mqtt.broker import BrokerOptions, max_packet_size_for, write_broker_files

    port = free_port()
    password = secrets.token_urlsafe(16)
    address = BrokerAddress("127.0.0.1", port, WORKER_USER, password)
    options = BrokerOptions(
        host="127.0.0.1",
        port=port,
        max_packet_size=max_packet_size_for(city.site.settings.limits.max_json_body_bytes),
        run_as=getpass.getuser(),
    )
    files = write_broker_files(city.site, folder / "broker", address, options)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    broker = Server("mosquitto", [binary, "-c", str(files.config)], port, folder / "broker.log")
    time.sleep(0.5)
    return broker, f"mqtt://{WORKER_USER}:{password}@127.0.0.1:{port}", port


@dataclass
class Fleet:
    """Devices registered once in a data folder that every run copies (registering 1 000
    devices takes longer than a run)."""

    data_dir: Path
    devices: list[tuple[str, str, Any]]

    @classmethod
    def register(cls, data_dir: Path, devices: int) -> Fleet:
        """A site with ``devices`` devices, closed, in ``data_dir``."""
        city = make_city_site(data_dir, None)
        log(f"registering {devices} devices")
        try:
            return cls(data_dir, register_fleet(city, devices))
        finally:
            city.close()

    def open_copy(self, data_dir: Path) -> CitySite:
        """A copy of the fleet's site in ``data_dir``, open."""
        from cityshare.accounts.console import console_actor
        from cityshare.config import Settings
        from cityshare.runtime import open_site

        shutil.copytree(self.data_dir, data_dir)
        site = open_site(Settings(data_dir=data_dir), migrate=False)
        return CitySite(data_dir, None, site, console_actor(site, "admin"))


def run(args: argparse.Namespace, folder: Path, fleet: Fleet, receipts: bool) -> dict[str, Any]:
    """One run: a copy of the fleet's site, a broker and a worker; every device publishes
    its batches; the clock stops when the store holds every reading."""
    city = fleet.open_copy(folder / "data")
    broker, url, port = start_broker(city, folder)
    env = {
        **city.env(),
        "CITYSHARE_MQTT_URL": url,
        "CITYSHARE_MQTT_RECEIPTS": "true" if receipts else "false",
    }
    worker = Server(
        "ingest-worker",
        [sys.executable, "-m", "cityshare", "ingest-mqtt"],
        port,
        folder / "worker.log",
        env=env,
    )
    try:
        time.sleep(3)  # the worker connects and subscribes
        outcome = _publish_and_count(args, city, fleet, port, receipts, worker, broker)
        outcome["refused"] = refusals(city)
    finally:
        worker.stop()
        broker.stop()
        city.close()
    return outcome


def _publish_and_count(
    args: argparse.Namespace,
    city: CitySite,
    fleet: Fleet,
    port: int,
    receipts: bool,
    worker: Server,
    broker: Server,
) -> dict[str, Any]:
    log("signing messages")
    shares: list[list[tuple[str, str, list[bytes]]]] = [[] for _ in range(args.publishers)]
    for index, (uid, password, key) in enumerate(fleet.devices):
        messages = signed_messages(key, index, args.messages, args.readings)
        shares[index % args.publishers].append((uid, password, messages))
    expected = args.devices * args.messages * args.readings
    results: Any = multiprocessing.Queue()
    start_at = time.time() + 3.0
    processes = [
        multiprocessing.Process(target=publisher, args=(port, share, start_at, results, receipts))
        for share in shares
    ]
    for process in processes:
        process.start()
    time.sleep(max(0.0, start_at - time.time()))
    worker_cpu, broker_cpu = _server_cpu(worker, broker)
    began = time.monotonic()
    log(f"publishing {expected:,} readings")
    count, last_change, last_count = 0, time.monotonic(), -1
    while count < expected and time.monotonic() - last_change < 60:
        time.sleep(0.2)
        count = stored(city)
        if count != last_count:
            last_change, last_count = time.monotonic(), count
    elapsed = last_change - began
    outcomes = [results.get(timeout=300) for _ in processes]
    worker_after, broker_after = _server_cpu(worker, broker)
    for process in processes:
        process.join(timeout=30)
    return {
        "receipts": "on" if receipts else "off",
        "receipted": sum(outcome[1] for outcome in outcomes),
        "stored_receipts": sum(outcome[2] for outcome in outcomes),
        "receipt_seconds": max(outcome[3] for outcome in outcomes) - start_at if receipts else 0,
        "readings": expected,
        "acked": sum(outcome[0] for outcome in outcomes) * args.readings,
        "stored": count,
        "seconds": elapsed,
        "rate": count / elapsed if elapsed > 0 else 0.0,
        "cpu_worker": worker_after[0] - worker_cpu[0],
        "cpu_network": worker_after[1] - worker_cpu[1],
        "cpu_broker": broker_after - broker_cpu,
        "cpu_devices": sum(outcome[4] for outcome in outcomes),
        "load": os.getloadavg()[0],
    }


def _server_cpu(worker: Server, broker: Server) -> tuple[tuple[float, float], float]:
    """CPU seconds so far: the worker's (main thread, other threads) and the broker's."""
    return thread_cpu_seconds(worker.process.pid), process_cpu_seconds([broker.process.pid])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10, help="batches per device")
    parser.add_argument("--readings", type=int, default=50, help="readings per batch")
    parser.add_argument("--publishers", type=int, default=2, help="publishing processes")
    parser.add_argument(
        "--rounds",
        "--repeat",
        dest="rounds",
        type=int,
        default=1,
        help="rounds; with --receipts compare each runs both ways, alternating the order",
    )
    parser.add_argument(
        "--receipts",
        choices=["on", "off", "compare"],
        default="compare",
        help="receipts to devices: on, off (as before), or compare (each round both ways)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        help="seconds, over the whole benchmark, to wait for an idle machine before runs",
    )
    args = parser.parse_args(argv)
    stop_on_sigterm()
    command = "python benchmarks/bench_mqtt.py " + " ".join(argv or sys.argv[1:])
    loads = [os.getloadavg()]
    outcomes = []
    with temp_folder("cityshare-bench-mqtt-") as folder:
        fleet = Fleet.register(folder / "fleet", args.devices)
        waiter = QuietWaiter(args.quiet_wait)
        for number in range(args.rounds):
            for receipts in _modes(args.receipts, number):
                with temp_folder("cityshare-bench-mqtt-run-") as run_folder:
                    busy = waiter.wait()
                    log(f"round {number + 1} of {args.rounds}, receipts {receipts}")
                    outcomes.append({**run(args, run_folder, fleet, receipts), "busy": busy})
    loads.append(os.getloadavg())
    print(report(outcomes, args.readings))
    print(f"command: {command}")
    print("load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}".format(*loads[0]))
    print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f}".format(*loads[1]))
    return 0 if _met(outcomes, args.readings) else 1


def _modes(receipts: str, number: int) -> list[bool]:
    """The runs of round ``number``: compare alternates which goes first."""
    if receipts != "compare":
        return [receipts == "on"]
    return [False, True] if number % 2 == 0 else [True, False]


def _met(outcomes: list[dict[str, Any]], readings: int) -> bool:
    """Every target: throughput, zero loss, every receipt, and their cost under 10 %."""
    by_mode = _medians(outcomes)
    lossless = all(o["stored"] == o["acked"] == o["readings"] for o in outcomes)
    receipted = all(
        o["receipted"] == o["stored_receipts"] == o["readings"] // readings
        for o in outcomes
        if o["receipts"] == "on"
    )
    met = max(by_mode.values()) >= TARGET_READINGS_PER_SECOND and lossless and receipted
    if len(by_mode) == 2:
        met = met and by_mode["on"] >= (1 - TARGET_RECEIPT_COST) * by_mode["off"]
    return met


def _medians(outcomes: list[dict[str, Any]]) -> dict[str, float]:
    """The median rate of each receipts mode."""
    medians = {}
    for mode in ("off", "on"):
        rates = [o["rate"] for o in outcomes if o["receipts"] == mode]
        if rates:
            medians[mode] = statistics.median(rates)
    return medians


def _median_of(outcomes: list[dict[str, Any]], mode: str, key: str) -> float:
    return statistics.median(o[key] for o in outcomes if o["receipts"] == mode)


CPU_PARTS = {
    "cpu_worker": "the worker's main thread",
    "cpu_network": "the worker's other threads (paho's network thread, the receipts thread)",
    "cpu_broker": "the broker",
    "cpu_devices": "the devices (benchmark's publishing processes)",
}


def report(outcomes: list[dict[str, Any]], readings: int) -> str:
    """The table of runs and the verdicts: throughput, loss, what receipts cost and where
    (CPU seconds of each part, receipts on minus off)."""
    keys = ["receipts", "readings", "stored", "refused", "seconds", "rate"]
    keys += ["receipted", "receipt_seconds", *CPU_PARTS, "busy", "load"]
    columns = [*keys[:5], "readings/s", "receipted", "last receipt s"]
    columns += ["cpu worker", "cpu net", "cpu broker", "cpu devices", "busy before", "load1"]
    rows = [[_shown(key, o[key]) for key in keys] for o in outcomes]
    lines = [format_table(columns, rows), ""]
    by_mode = _medians(outcomes)
    for mode, rate in by_mode.items():
        lines.append(f"median with receipts {mode}: {rate:,.0f} readings/s")
    if len(by_mode) == 2:
        ratio = by_mode["on"] / by_mode["off"]
        lines.append(
            f"receipts cost {1 - ratio:.1%} of throughput (on/off = {ratio:.3f}; "
            f"target < {TARGET_RECEIPT_COST:.0%})"
        )
        receipts = outcomes[0]["readings"] // readings
        for key, part in CPU_PARTS.items():
            extra = _median_of(outcomes, "on", key) - _median_of(outcomes, "off", key)
            lines.append(
                f"median CPU with receipts minus without, {part}: {extra:+.2f} s "
                f"({extra / receipts * 1e6:+.0f} µs per receipt)"
            )
    lossless = all(o["stored"] == o["acked"] == o["readings"] for o in outcomes)
    lines.append(
        f"target ≥ {TARGET_READINGS_PER_SECOND:,} readings/s; zero loss: "
        f"{'yes' if lossless else 'NO'}"
    )
    return "\n".join(lines)


def _shown(key: str, value: Any) -> Any:
    if key == "busy":
        return f"{value:.0%}"
    if key.startswith("cpu_") or key == "load":
        return f"{value:.2f}"
    return value


if __name__ == "__main__":
    raise SystemExit(main())
