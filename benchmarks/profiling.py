"""Profiling the cityshare server under the query benchmark's load (py-spy)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from common import log, run_wrk, running


def profile_cityshare(
    setup: Any, paths: list[str], workers: int, duration: float, out: Path
) -> None:
    """py-spy the cityshare server under the benchmark's wrk load, twice: ``--gil`` (only
    samples holding the GIL: where Python CPU goes) and wall-clock (all threads, including
    time in SQLite with the GIL released). Prints the hottest frames of each."""
    import shutil
    import subprocess

    if shutil.which("py-spy") is None:
        log("py-spy not installed (pip install py-spy): no profile")
        return
    server, ready, _template = setup.server("cityshare", workers)
    out.mkdir(parents=True, exist_ok=True)
    with running(server, ready, timeout=90):
        run_wrk(server.base_url, paths, setup.folder, duration=2)
        for mode in ("gil", "wall"):
            raw = out / f"cityshare-{workers}w-{mode}.pyspy.txt"
            command = ["py-spy", "record", "--pid", str(server.process.pid), "--subprocesses"]
            command += ["--rate", "250", "--duration", str(int(duration)), "--format", "raw"]
            command += ["--output", str(raw), "--nonblocking"] + (
                ["--gil"] if mode == "gil" else []
            )
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                result = run_wrk(server.base_url, paths, setup.folder, duration=duration + 1)
            finally:
                spy.wait(timeout=duration + 60)
            log(f"profiled ({mode}) at {result.rps:,.0f} req/s; collapsed stacks in {raw}")
            print(f"\n## py-spy {mode} profile of cityshare ({workers} worker)\n")
            print(summarise_stacks(raw, drop_idle=mode == "wall"))


IDLE_LEAVES = ("Condition.wait", "Runner.run", "Queue.get", "select (selectors", "_worker")


def summarise_stacks(raw: Path, top: int = 25, drop_idle: bool = False) -> str:
    """Self and inclusive sample shares per frame from py-spy's collapsed stacks
    (``drop_idle``: leave out samples of threads waiting for work)."""
    inclusive: dict[str, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ")]
        frames = [frame for frame in frames if not frame.startswith("thread ")]
        if not frames or (drop_idle and frames[-1].startswith(IDLE_LEAVES)):
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"py-spy samples: {total}", "", "self time (top frames):"]
    for frame, count in sorted(own.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"  {100 * count / total:5.1f}%  {frame}")
    lines += ["", "inclusive time (cityshare frames):"]
    ours = [(f, c) for f, c in inclusive.items() if "cityshare" in f]
    for frame, count in sorted(ours, key=lambda item: -item[1])[:top]:
        lines.append(f"  {100 * count / total:5.1f}%  {frame}")
    lines += ["", "inclusive time (all frames):"]
    for frame, count in sorted(inclusive.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"  {100 * count / total:5.1f}%  {frame}")
    return "\n".join(lines)
