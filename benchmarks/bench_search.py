"""Catalogue search over many datasets: latency of search, facets and CKAN package_search.

A generated catalogue (100 000 datasets by default, 20 organisations, every visibility;
see catalogue_data.py) on SQLite, served by a one-worker ``cityshare serve``. wrk sends
one request at a time (one connection), so its latencies are what one user waits, and
rotates over 400 queries per scenario drawn from the catalogue's vocabulary:

- ``baseline`` — ``GET /api/v1``, the site's index: the floor of any request;
- ``browse`` — the newest 20 datasets, no words;
- ``search`` — one or two words, 20 results, anonymous;
- ``search, signed in`` — the same as a member of one organisation (sees shared and own);
- ``browse + 3 facets`` / ``search + 3 facets`` — organisation, tag and format facets;
- ``package_search + 3 facets`` — CKAN's action with ``facet.field`` organization, tags
  and res_format (when the CKAN API answers).

Targets (issue 5): search p99 under 50 ms; package_search with three facets p99 under
100 ms. Figures are medians over the repeats, interleaved so drift hits every scenario.

    python benchmarks/bench_search.py                       # 100 000 datasets
    python benchmarks/bench_search.py --datasets 20000 --repeats 2 --duration 5
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalogue_data import WORDS, generate
from common import (
    CitySite,
    QuietWaiter,
    Server,
    add_run_options,
    format_table,
    http_get_json,
    log,
    make_city_site,
    median,
    run_wrk,
    running,
    serve_one_worker,
    stop_on_sigterm,
    temp_folder,
    verdict,
    wrk_available,
)

QUERIES = 400
FACETS = "organisation,tag,format"
CKAN_FACETS = '["organization","tags","res_format"]'
TARGETS_MS = {"search": 50.0, "search, signed in": 50.0, "package_search + 3 facets": 100.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=int, default=100_000, help="datasets to generate")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per scenario")
    add_run_options(parser, quiet_wait=120.0)
    return parser.parse_args(argv)


def word_queries(rng: random.Random) -> list[str]:
    """QUERIES searches of one or two words of the catalogue's vocabulary."""
    return [" ".join(rng.sample(WORDS, rng.choice((1, 1, 2)))) for _ in range(QUERIES)]


def scenario_paths(rng: random.Random) -> dict[str, list[str]]:
    """The request paths of each scenario."""
    words = word_queries(rng)

    def native(**params: Any) -> str:
        return "/api/v1/datasets?" + urlencode(params)

    def ckan(text: str) -> str:
        params = {"q": text, "rows": 20, "facet.field": CKAN_FACETS}
        return "/api/3/action/package_search?" + urlencode(params)

    return {
        "baseline": ["/api/v1"],
        "browse": [native(limit=20)],
        "search": [native(q=text, limit=20) for text in words],
        "search, signed in": [native(q=text, limit=20) for text in words],
        "browse + 3 facets": [native(limit=20, facets=FACETS)],
        "search + 3 facets": [native(q=text, limit=20, facets=FACETS) for text in words],
        "package_search + 3 facets": [ckan(text) for text in words],
    }


def prepare(city: CitySite, count: int) -> str:
    """Generate the catalogue; a read token of a member of one organisation."""
    from cityshare.access.actions import Scope
    from cityshare.accounts import organisations, tokens, users

    generate(city.site, count, progress=lambda done: log(f"{done:,} datasets"))
    users.create_user(city.site, city.admin, username="reader")
    organisations.set_member(city.site, city.admin, "authority-3", "reader", "member")
    created = tokens.create_token(
        city.site, city.admin, username="reader", scopes=frozenset({Scope.READ})
    )
    return str(created.token)


def check(server: Server, paths: dict[str, list[str]], token: str) -> set[str]:
    """Every scenario answers, and finds something; the scenarios the server offers."""
    offered = set()
    for name, rotation in paths.items():
        authorization = f"Bearer {token}" if name == "search, signed in" else ""
        try:
            body = http_get_json(server.base_url + rotation[0], authorization=authorization)
        except httpx.HTTPError as error:  # a missing CKAN API is reported, not fatal
            log(f"{name}: not measured ({error})")
            continue
        if name.startswith("package_search") and not body.get("success"):
            raise RuntimeError(f"{name}: {str(body)[:300]}")
        offered.add(name)
    return offered


def measure(
    server: Server, folder: Path, name: str, rotation: list[str], token: str, seconds: float
) -> dict[str, float]:
    """One wrk run of a scenario, one request at a time."""
    authorization = f"Bearer {token}" if name == "search, signed in" else ""
    result = run_wrk(
        server.base_url,
        rotation,
        folder / "wrk",
        duration=seconds,
        connections=1,
        threads=1,
        authorization=authorization,
    )
    if result.errors:
        raise RuntimeError(f"{name}: {result.errors} failed requests")
    return {"rps": result.rps, "p50_ms": result.p50_ms, "p99_ms": result.p99_ms}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    if not wrk_available():
        log("wrk is not installed: apt-get install -y wrk")
        return 2
    paths = scenario_paths(random.Random(20261204))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
    with temp_folder("bench-search-", keep=args.keep) as folder:
        city = make_city_site(folder / "data", None)
        try:
            token = prepare(city, args.datasets)
        finally:
            city.close()
        with running(serve_one_worker(city, folder), "/api/v1", timeout=300) as server:
            offered = check(server, paths, token)
            waiter = QuietWaiter(args.quiet_wait)
            for repeat in range(args.repeats):
                for name in (name for name in paths if name in offered):
                    waiter.wait()
                    log(f"run {repeat + 1}/{args.repeats}: {name}")
                    runs[name].append(
                        measure(server, folder, name, paths[name], token, args.duration)
                    )
    summary = summarise(runs, args.datasets)
    print(summary["table"])
    print("\n".join(summary["verdicts"]))
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, **summary}, indent=2))
    return 0


def summarise(runs: dict[str, list[dict[str, float]]], datasets: int) -> dict[str, Any]:
    """Medians per scenario, each one's p50 as a multiple of the baseline's."""
    baseline = median([run["p50_ms"] for run in runs["baseline"]])
    rows = []
    verdicts = []
    for name, results in runs.items():
        if not results:
            continue
        p50 = median([run["p50_ms"] for run in results])
        p99 = median([run["p99_ms"] for run in results])
        each = ", ".join(f"{run['p99_ms']:.1f}" for run in results)
        rows.append([name, f"{p50:.1f}", f"{p99:.1f} ({each})", f"{p50 / baseline:.1f}×"])
        if name in TARGETS_MS:
            ok = p99 < TARGETS_MS[name]
            verdicts.append(
                f"{name} over {datasets:,} datasets: p99 {p99:.1f} ms "
                f"(target < {TARGETS_MS[name]:g} ms): {verdict(ok)}"
            )
    headers = ["scenario", "p50 ms", "p99 ms (runs)", "p50 ÷ baseline"]
    return {"table": format_table(headers, rows), "verdicts": verdicts}


if __name__ == "__main__":
    raise SystemExit(main())
