"""MQTT ingestion end to end: 1 000 devices publish signed batches with QoS 1 through a
real Mosquitto to the cityshare ingest worker; readings/s stored, with zero loss.

Target (issue 3): at least 20 000 readings/s end to end, and every reading the broker
acknowledged is stored exactly once. Each device has one stream and publishes
``--messages`` signed batches of ``--readings`` readings (a device buffering its samples
for a second or so). The clock runs from the first publish until the store holds every
reading.

Receipts (issue 17): after each batch is committed, the worker publishes a receipt to the
device's ``cityshare/devices/{uid}/receipts``; the devices here subscribe to theirs and
count them. ``--receipts compare`` (the default) runs every repeat twice, with receipts
off (``CITYSHARE_MQTT_RECEIPTS=false``, devices not subscribed) and on, to measure their
cost in one run (target: under 10 % of throughput). Usage::

    python benchmarks/bench_mqtt.py --devices 1000 --messages 10 --readings 50
    python benchmarks/bench_mqtt.py --receipts off     # as before receipts
"""

from __future__ import annotations

import argparse
import getpass
import multiprocessing
import secrets
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from common import (
    CitySite,
    Server,
    format_table,
    free_port,
    log,
    make_city_site,
    stop_on_sigterm,
    temp_folder,
)
from mqtt_load import close_all, open_connection, publish_rounds, wait_for_receipts

TARGET_READINGS_PER_SECOND = 20_000
WORKER_USER = "cityshare-ingest"


def register_fleet(city: CitySite, devices: int) -> list[tuple[str, str, Any]]:
    """Register ``devices`` devices with one stream each: (uid, MQTT password, key)."""
    from cityshare.catalogue import datasets
    from cityshare.streams import datastreams, keys
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
            device=created["uid"],
            name="v",
            observed_property="vehicle_count",
            unit="vehicles",
        )
        fleet.append((created["uid"], created["mqtt_password"], key))
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
    receipts, time of the last receipt)."""
    connections = [
        open_connection("127.0.0.1", port, uid, password, receipts=receipts)
        for uid, password, _ in share
    ]
    topics = {uid: f"cityshare/devices/{uid}/readings" for uid, _, _ in share}
    payloads = [items for _, _, items in share]
    time.sleep(max(0.0, start_at - time.time()))
    acked = publish_rounds(connections, payloads, topics)
    received = wait_for_receipts(connections, acked) if receipts else 0
    stored_receipts = sum(c.stored_receipts for c in connections)
    results.put((acked, received, stored_receipts, time.time()))
    close_all(connections)


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
    from cityshare.ingest.address import BrokerAddress
    from cityshare.ingest.broker import BrokerOptions, max_packet_size_for, write_broker_files

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


def run(args: argparse.Namespace, folder: Path, receipts: bool) -> dict[str, Any]:
    city = make_city_site(folder / "data", None)
    log(f"registering {args.devices} devices")
    fleet = register_fleet(city, args.devices)
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
        log("signing messages")
        shares: list[list[tuple[str, str, list[bytes]]]] = [[] for _ in range(args.publishers)]
        for index, (uid, password, key) in enumerate(fleet):
            messages = signed_messages(key, index, args.messages, args.readings)
            shares[index % args.publishers].append((uid, password, messages))
        expected = args.devices * args.messages * args.readings
        results: Any = multiprocessing.Queue()
        start_at = time.time() + 3.0
        processes = [
            multiprocessing.Process(
                target=publisher, args=(port, share, start_at, results, receipts)
            )
            for share in shares
        ]
        for process in processes:
            process.start()
        time.sleep(max(0.0, start_at - time.time()))
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
        acked_messages = sum(outcome[0] for outcome in outcomes)
        received = sum(outcome[1] for outcome in outcomes)
        stored_receipts = sum(outcome[2] for outcome in outcomes)
        last_receipt = max(outcome[3] for outcome in outcomes) - start_at
        for process in processes:
            process.join(timeout=30)
        refused = refusals(city)
    finally:
        worker.stop()
        broker.stop()
        city.close()
    return {
        "receipts": "on" if receipts else "off",
        "receipted": received,
        "stored_receipts": stored_receipts,
        "receipt_seconds": last_receipt if receipts else 0.0,
        "readings": expected,
        "acked": acked_messages * args.readings,
        "stored": count,
        "refused": refused,
        "seconds": elapsed,
        "rate": count / elapsed if elapsed > 0 else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10, help="batches per device")
    parser.add_argument("--readings", type=int, default=50, help="readings per batch")
    parser.add_argument("--publishers", type=int, default=2, help="publishing processes")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--receipts",
        choices=["on", "off", "compare"],
        default="compare",
        help="receipts to devices: on, off (as before), or compare (each repeat both ways)",
    )
    args = parser.parse_args(argv)
    stop_on_sigterm()
    modes = {"on": [True], "off": [False], "compare": [False, True]}[args.receipts]
    outcomes = []
    for attempt in range(args.repeat):
        for receipts in modes:
            with temp_folder("cityshare-bench-mqtt-") as folder:
                log(f"run {attempt + 1} of {args.repeat}, receipts {receipts}")
                outcomes.append(run(args, folder, receipts))
    print(report(outcomes))
    print("command: python benchmarks/bench_mqtt.py " + " ".join(argv or sys.argv[1:]))
    by_mode = _medians(outcomes)
    lossless = all(o["stored"] == o["acked"] == o["readings"] for o in outcomes)
    receipted = all(
        o["receipted"] == o["stored_receipts"] == o["readings"] // args.readings
        for o in outcomes
        if o["receipts"] == "on"
    )
    met = max(by_mode.values()) >= TARGET_READINGS_PER_SECOND and lossless and receipted
    if len(by_mode) == 2:
        met = met and by_mode["on"] >= 0.9 * by_mode["off"]
    return 0 if met else 1


def _medians(outcomes: list[dict[str, Any]]) -> dict[str, float]:
    """The median rate of each receipts mode."""
    medians = {}
    for mode in ("off", "on"):
        rates = [o["rate"] for o in outcomes if o["receipts"] == mode]
        if rates:
            medians[mode] = statistics.median(rates)
    return medians


def report(outcomes: list[dict[str, Any]]) -> str:
    """The table of runs and the verdicts: throughput, loss, and what receipts cost."""
    keys = ["receipts", "readings", "acked", "stored", "refused", "seconds", "rate"]
    keys += ["receipted", "receipt_seconds"]
    columns = [*keys[:6], "readings/s", "receipted", "last receipt s"]
    rows = [[o[key] for key in keys] for o in outcomes]
    lines = [format_table(columns, rows), ""]
    by_mode = _medians(outcomes)
    for mode, rate in by_mode.items():
        lines.append(f"median with receipts {mode}: {rate:,.0f} readings/s")
    if len(by_mode) == 2:
        cost = 1 - by_mode["on"] / by_mode["off"]
        lines.append(f"receipts cost {cost:.1%} of throughput (target < 10 %)")
    lossless = all(o["stored"] == o["acked"] == o["readings"] for o in outcomes)
    lines.append(
        f"target ≥ {TARGET_READINGS_PER_SECOND:,} readings/s; zero loss: "
        f"{'yes' if lossless else 'NO'}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
