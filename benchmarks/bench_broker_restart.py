"""The broker killed (-9) and restarted mid-stream, at scale: devices that keep each batch
until cityshare's receipt lose none, and none is stored twice (issue 17).

``--devices`` devices (``cityshare.streams.client.MqttDevice``, QoS 1, receipts) publish
``--batches`` signed batches each at ``--rate`` batches/s in all, to a real Mosquitto
written by ``cityshare mqtt-config``'s code, stored by a ``cityshare ingest-mqtt`` process
on SQLite. A third of the way in, the broker is killed with SIGKILL and started again
``--down`` seconds later with the same files and port (its persistence file kept). Once
every device has its receipts, the store must hold every batch sent, exactly once.
Done when: 0 lost of N ≥ 30 000 at ≥ 500 batches/s, 3 runs. Usage::

    python benchmarks/bench_broker_restart.py --devices 10 --batches 3000 --rate 600 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench_mqtt import register_fleet, start_broker
from common import CitySite, Server, format_table, log, make_city_site, stop_on_sigterm, temp_folder

TARGET_BATCHES = 30_000
TARGET_RATE = 500.0


def stream(device: Any, index: int, batches: int, per_second: float, state: dict[str, Any]) -> None:
    """Publish ``batches`` one-reading batches at ``per_second``; nonces into state."""
    base = datetime.now(UTC) - timedelta(hours=2) + timedelta(microseconds=index)
    started = time.monotonic()
    for number in range(batches):
        delay = started + number / per_second - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        nonce = device.send([("v", base + timedelta(seconds=number), float(number))])
        state["nonces"][index].append(nonce)
        state["sent"][index] = number + 1


def restart(broker: Server, folder: Path, down: float) -> Server:
    """SIGKILL the broker; start it again ``down`` s later with the same files and port."""
    os.kill(broker.process.pid, signal.SIGKILL)
    broker.process.wait()
    time.sleep(down)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    config = folder / "broker" / "mosquitto.conf"
    return Server("mosquitto", [binary, "-c", str(config)], broker.port, folder / "broker-2.log")


def count(city: CitySite, table: Any) -> int:
    with city.site.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def stored_nonces(city: CitySite) -> list[str]:
    from cityshare.storage.schema import ingest_batches

    with city.site.engine.connect() as connection:
        return list(connection.execute(select(ingest_batches.c.nonce)).scalars())


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from cityshare.storage.schema import observations
    from cityshare.streams.client import MqttDevice

    city = make_city_site(folder / "data", None)
    fleet = register_fleet(city, args.devices)
    broker, url, port = start_broker(city, folder)
    env = {**city.env(), "CITYSHARE_MQTT_URL": url}
    worker = Server(
        "ingest-worker",
        [sys.executable, "-m", "cityshare", "ingest-mqtt"],
        port,
        folder / "worker.log",
        env=env,
    )
    devices = []
    try:
        time.sleep(3)  # the worker connects and subscribes
        for uid, password, key in fleet:
            device = MqttDevice(uid, password, key, "127.0.0.1", port, resend_after=args.resend)
            device.connect()
            devices.append(device)
        state: dict[str, Any] = {
            "nonces": [[] for _ in devices],
            "sent": [0] * len(devices),
        }
        per_device = args.rate / len(devices)
        threads = [
            threading.Thread(target=stream, args=(d, i, args.batches, per_device, state))
            for i, d in enumerate(devices)
        ]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        total = args.devices * args.batches
        while sum(state["sent"]) < total // 3:
            time.sleep(0.01)
        killed_at = sum(state["sent"])
        broker = restart(broker, folder, args.down)
        for thread in threads:
            thread.join()
        sending = time.monotonic() - began
        receipts: dict[str, Any] = {}
        for device in devices:
            receipts |= device.wait_for_receipts(timeout=600)
        settled = time.monotonic() - began
        sent = {nonce for nonces in state["nonces"] for nonce in nonces}
        stored = stored_nonces(city)
        outcome = {
            "batches": len(sent),
            "rate": len(sent) / sending,
            "killed_at": killed_at,
            "resent": sum(device.resent for device in devices),
            "already": sum(1 for r in receipts.values() if r.already_stored),
            "receipted": sum(1 for r in receipts.values() if r.stored),
            "stored": len(set(stored)),
            "twice": len(stored) - len(set(stored)),
            "lost": len(sent - set(stored)),
            "readings": count(city, observations),
            "settled": settled,
        }
    finally:
        for device in devices:
            device.close()
        worker.stop()
        broker.stop()
        city.close()
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--batches", type=int, default=3000, help="batches per device")
    parser.add_argument("--rate", type=float, default=600.0, help="batches/s, all devices")
    parser.add_argument("--down", type=float, default=3.0, help="seconds the broker is down")
    parser.add_argument("--resend", type=float, default=10.0, help="resend after, seconds")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    stop_on_sigterm()
    outcomes = []
    for attempt in range(args.repeat):
        with temp_folder("cityshare-bench-restart-") as folder:
            log(f"run {attempt + 1} of {args.repeat}")
            outcomes.append(run(args, folder))
    keys = ["batches", "rate", "killed_at", "resent", "already", "receipted", "stored"]
    keys += ["twice", "lost", "readings", "settled"]
    print(format_table(keys, [[o[key] for key in keys] for o in outcomes]))
    print("command: python benchmarks/bench_broker_restart.py " + " ".join(argv or sys.argv[1:]))
    met = all(
        o["lost"] == 0
        and o["twice"] == 0
        and o["receipted"] == o["batches"] == o["stored"] == o["readings"]
        and o["batches"] >= TARGET_BATCHES
        and o["rate"] >= TARGET_RATE
        for o in outcomes
    )
    verdict = "yes" if met else "NO"
    print(f"0 lost of N ≥ {TARGET_BATCHES:,} at ≥ {TARGET_RATE:.0f} batches/s: {verdict}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
