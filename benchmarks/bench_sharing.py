"""What the audit log and the grant-aware policy cost the query API.

One ``shared`` dataset of traffic counts (generated, 200 000 rows by default) owned by
``city``. An owner (a member of ``city``) and a grantee (a member of ``partner``, which holds
a grant with four of the nine columns and a row filter) query 100 rows of one junction at a
time, rotating over every junction, with wrk (16 connections) against ``cityshare serve``.
Four configurations, interleaved over the repeats so drift hits them alike:

- ``owner, audit off`` — the baseline: no grant in play, reads not audited;
- ``owner, audit on`` — the cost of auditing every read;
- ``grantee, audit off`` — the cost of reading through a grant (bounded table, row filter);
- ``grantee, audit on`` — both: the target is at least 85 % of the baseline's requests/s.

Rate limits are switched off in every configuration (they are not what is measured).

    python benchmarks/bench_sharing.py                      # defaults
    python benchmarks/bench_sharing.py --rows 1000000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_query import JUNCTIONS, SCHEMA, junction, write_csv
from common import (
    CitySite,
    QuietWaiter,
    add_run_options,
    format_table,
    http_get_json,
    log,
    make_city_site,
    median,
    process_cpu_seconds,
    run_wrk,
    running,
    serve_one_worker,
    stop_on_sigterm,
    temp_folder,
    verdict,
    wrk_available,
)

DATASET = "traffic"
PAGE = 100
TARGET_SHARE = 0.85
GRANTED = ["junction_id", "counted_at", "cars", "avg_speed"]
ROW_FILTER = {"cars__gte": "20"}
CONFIGS = (
    ("owner", False),
    ("owner", True),
    ("grantee", False),
    ("grantee", True),
)


def prepare(city: CitySite, folder: Path, rows: int) -> dict[str, str]:
    """Publish the dataset, add the owner and the grantee, grant; their tokens by role."""
    from cityshare.access.actor import ALL_SCOPES
    from cityshare.accounts import organisations, tokens, users
    from cityshare.catalogue import datasets, versions
    from cityshare.sharing import grants

    source = folder / "traffic.csv"
    log(f"writing {rows:,} rows")
    write_csv(source, rows)
    site, admin = city.site, city.admin
    datasets.create_dataset(
        site, admin, organisation="city", name=DATASET, title="Traffic", visibility="shared"
    )
    log("publishing")
    versions.publish_version(
        site, admin, DATASET, source=source, media_type="text/csv", schema=SCHEMA
    )
    organisations.create_organisation(site, admin, name="partner", title="Partner")
    found: dict[str, str] = {}
    for role, organisation in (("owner", "city"), ("grantee", "partner")):
        users.create_user(site, admin, username=role)
        organisations.set_member(site, admin, organisation, role, "member")
        created = tokens.create_token(site, admin, username=role, scopes=ALL_SCOPES)
        found[role] = str(created.token)
    spec: dict[str, Any] = {
        "organisation": "partner",
        "purpose": "benchmark",
        "expires_at": datetime.now(UTC) + timedelta(days=1),
        "columns": GRANTED,
        "row_filter": ROW_FILTER,
    }
    grants.create_grant(site, admin, DATASET, spec)
    return found


def check(body: Any, role: str) -> None:
    """A page of one junction; the grantee's without the columns it was not granted."""
    rows = body["rows"]
    if len(rows) != PAGE or {row["junction_id"] for row in rows} != {junction(5)}:
        raise RuntimeError(f"{role}: unexpected answer {str(body)[:200]}")
    columns = set(rows[0])
    if role == "grantee" and columns != set(GRANTED):
        raise RuntimeError(f"grantee sees {sorted(columns)}")
    if role == "owner" and len(columns) != len(SCHEMA["fields"]):
        raise RuntimeError(f"owner sees {sorted(columns)}")


def measure(
    city: CitySite, folder: Path, token: str, role: str, audit: bool, args: argparse.Namespace
) -> dict[str, float]:
    """One wrk run of one configuration on a fresh server."""
    server = serve_one_worker(city, folder, audit_reads="true" if audit else "false")
    template = f"/api/v1/datasets/{DATASET}/rows?junction_id={{value}}&_limit={PAGE}"
    paths = [template.format(value=junction(index)) for index in range(JUNCTIONS)]
    authorization = f"Bearer {token}"
    with running(server, "/api/v1", timeout=90):
        url = server.base_url + template.format(value=junction(5))
        check(http_get_json(url, authorization=authorization), role)
        run_wrk(server.base_url, paths, folder, duration=args.warmup, authorization=authorization)
        pids = server.server_pids()
        before = process_cpu_seconds(pids)
        result = run_wrk(
            server.base_url, paths, folder, duration=args.duration, authorization=authorization
        )
        cpu = process_cpu_seconds(pids) - before
    if result.errors:
        log(f"  {role} audit={audit}: {result.errors} errors")
    return {
        "rps": result.rps,
        "p50_ms": result.p50_ms,
        "p99_ms": result.p99_ms,
        "cpu_ms": 1000 * cpu / max(1, result.requests),
        "errors": result.errors,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows in the dataset")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration")
    add_run_options(parser, quiet_wait=120.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    if not wrk_available():
        log("wrk is not installed: apt-get install -y wrk")
        return 2
    runs: dict[str, list[dict[str, float]]] = {label(*config): [] for config in CONFIGS}
    with temp_folder("bench-sharing-", keep=args.keep) as folder:
        city = make_city_site(folder / "data", None)
        try:
            tokens = prepare(city, folder, args.rows)
        finally:
            city.close()
        waiter = QuietWaiter(args.quiet_wait)
        for repeat in range(args.repeats):
            for role, audit in CONFIGS:
                waiter.wait()
                log(f"run {repeat + 1}/{args.repeats}: {label(role, audit)}")
                runs[label(role, audit)].append(
                    measure(city, folder, tokens[role], role, audit, args)
                )
    summary = summarise(runs)
    print(summary["table"])
    print(summary["verdict"])
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, **summary}, indent=2))
    return 0


def label(role: str, audit: bool) -> str:
    return f"{role}, audit {'on' if audit else 'off'}"


def _each(results: list[dict[str, float]]) -> str:
    return ", ".join(f"{run['rps']:,.0f}" for run in results)


def summarise(runs: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Medians per configuration and each one's share of the baseline's requests/s."""
    baseline = median([run["rps"] for run in runs[label("owner", False)]])
    rows = []
    shares: dict[str, float] = {}
    for name, results in runs.items():
        rps = median([run["rps"] for run in results])
        shares[name] = rps / baseline if baseline else float("nan")
        rows.append(
            [
                name,
                f"{rps:,.0f} ({_each(results)})",
                f"{median([run['p50_ms'] for run in results]):.1f}",
                f"{median([run['p99_ms'] for run in results]):.1f}",
                f"{median([run['cpu_ms'] for run in results]):.2f}",
                f"{shares[name]:.1%}",
            ]
        )
    headers = ["configuration", "req/s (runs)", "p50 ms", "p99 ms", "CPU ms/req", "÷ baseline"]
    both = shares[label("grantee", True)]
    ok = both >= TARGET_SHARE
    text = (
        f"grantee with audit on: {both:.1%} of the baseline's requests/s "
        f"(target ≥ {TARGET_SHARE:.0%}): {verdict(ok)}"
    )
    return {"table": format_table(headers, rows), "verdict": text, "shares": shares}


if __name__ == "__main__":
    raise SystemExit(main())
