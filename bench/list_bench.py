"""Lists and the changes feed at scale: page 1 and page 200 latency near-empty and at N profiles.

Bounded and loopback only, in a throwaway PocketBase home (temporary dir, free port), removed at
the end. Steps:

1. a partner with a few dozen profiles (near-empty store): p95 of list page 1 (all, and by
   status) and of a changes-feed page, through the gateway app;
2. fill the store to ``--profiles`` profiles of that partner through the data layer's create path:
   wrk drives PocketBase's profile upsert route, the route ``POST /api/profiles`` calls, with the
   fields the gateway writes, so the hooks write each profile's history row, outbox events and
   change number as they do for the gateway (the gateway's Python, a constant per create, is left
   out to keep the fill to minutes);
3. the same figures at that size, plus page 200 reached by following ``next_cursor`` (keyset),
   page 200 by ``?page=200`` (offset, for comparison), a deep feed page, and the database size
   per profile.

Latency is measured through the Flask app in-process (``test_client``, sequential requests), so it
is the gateway's and PocketBase's time without gunicorn; every figure is a p95 of ``--samples``.
The data is synthetic (generated references and names).

    python bench/list_bench.py --profiles 100000          # the issue's figure (minutes)
    python bench/list_bench.py --profiles 5000            # while iterating
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.bench_store import bench_settings, superuser_client  # noqa: E402
from bench.wrk_load import WRK_SCRIPT, run_wrk  # noqa: E402
from gateway import create_app  # noqa: E402
from gateway.pb_server import PocketBaseServer  # noqa: E402
from gateway.services import partners  # noqa: E402
from gateway.services.pocketbase import PocketBase  # noqa: E402

PER_PAGE = 50


def p95_ms(client: Any, url: str, headers: dict[str, str], samples: int) -> float:
    """p95 latency of ``samples`` sequential GETs of ``url`` (each must answer 200)."""
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    latencies.sort()
    return round(latencies[int(len(latencies) * 0.95) - 1], 2)


def cursor_of_page(client: Any, url: str, headers: dict[str, str], page: int) -> str:
    """The cursor that reads page ``page`` of a list, by following ``next_cursor``."""
    cursor = ""
    for _ in range(page - 1):
        body = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        cursor = body.get_json()["next_cursor"]
        if not cursor:
            raise RuntimeError(f"the list ended before page {page}")
    return cursor


def figures(client: Any, headers: dict[str, str], samples: int, deep: bool) -> dict[str, float]:
    """p95 of each list shape; with ``deep``, page 200 as well."""
    base = f"/api/profiles?per_page={PER_PAGE}"
    result = {
        "list page 1": p95_ms(client, base, headers, samples),
        "list by status page 1": p95_ms(client, base + "&status=unverified", headers, samples),
        "changes feed page": p95_ms(
            client, f"/api/profiles/changes?limit={PER_PAGE}", headers, samples
        ),
    }
    if deep:
        cursor = cursor_of_page(client, base, headers, 200)
        result["list page 200 (cursor)"] = p95_ms(
            client, f"{base}&cursor={cursor}", headers, samples
        )
        status_base = base + "&status=unverified"
        cursor = cursor_of_page(client, status_base, headers, 200)
        result["list by status page 200 (cursor)"] = p95_ms(
            client, f"{status_base}&cursor={cursor}", headers, samples
        )
        result["list page 200 (?page=200, offset)"] = p95_ms(
            client, base + "&page=200", headers, samples
        )
        feed_url = "/api/profiles/changes?limit=1000"
        for _ in range(10):  # 10 pages of 1000: past the first 10,000 changes
            after = client.get(feed_url, headers=headers).get_json()["next_cursor"]
            feed_url = f"/api/profiles/changes?limit=1000&after={after}"
        result["changes feed page after 10,000"] = p95_ms(
            client, f"/api/profiles/changes?limit={PER_PAGE}&after={after}", headers, samples
        )
    return result


def fill(
    server: PocketBaseServer, pb: PocketBase, partner_id: str, target: int, workdir: Path
) -> float:
    """Create profiles through the upsert route until the partner has ``target``; seconds taken."""
    token = pb.request(
        "POST",
        "/api/collections/_superusers/auth-with-password",
        json={"identity": server.superuser_email, "password": server.superuser_password},
    ).json()["token"]
    script = workdir / "fill.lua"
    script.write_text(WRK_SCRIPT)
    started = time.monotonic()
    while (count := count_profiles(pb, partner_id)) < target:
        print(f"... {count} profiles", file=sys.stderr, flush=True)
        run_wrk(
            side="direct",
            op="create",
            base_url=server.url,
            path="/api/ekyc/profiles/upsert",
            auth=("Authorization", token),
            seconds=20,
            concurrency=8,
            wrk_threads=2,
            script=script,
            extra_env={"BENCH_PARTNER": partner_id, "BENCH_IDS_FILE": ""},
            watched={},
        )
    return time.monotonic() - started


def count_profiles(pb: PocketBase, partner_id: str) -> int:
    """How many profiles the partner has (the feed's numbers are 1..n for one partner)."""
    rows = pb.profile_page(partner_id, order="newest", limit=1)
    return int(rows[0]["change_seq"]) if rows else 0


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=100, help="requests per figure")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="ekyc-list-bench-"))
    server = PocketBaseServer.throwaway(workdir, email="bench@ekyc.test")
    try:
        settings = bench_settings(
            server, workdir, rate_limit="10000000/minute", log_level="WARNING"
        )
        pb = superuser_client(server)
        created = partners.create_partner(pb, "List bench partner")
        client = create_app(settings).test_client()
        headers = {"x-api-key": created["api_key"]}
        for number in range(60):
            client.post("/api/profiles", json={"external_ref": f"seed-{number}"}, headers=headers)
        near_empty = figures(client, headers, args.samples, deep=False)
        fill_s = fill(server, pb, created["partner_id"], args.profiles, workdir)
        count = count_profiles(pb, created["partner_id"])
        at_scale = figures(client, headers, args.samples, deep=True)
        database_bytes = sum(path.stat().st_size for path in (workdir / "pb_data").glob("data.db*"))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"{count} profiles of one partner (synthetic), filled in {fill_s:.0f} s"
        f" ({count / fill_s:.0f} creates/s); database {database_bytes / 1e6:.1f} MB,"
        f" {database_bytes / count / 1024:.2f} KB per profile; p95 of {args.samples} sequential"
        " requests through the Flask app in-process"
    )
    print(f"{'figure':<36} {'near-empty ms':>14} {'at scale ms':>12} {'ratio':>6}")
    baseline = {
        "list page 200 (cursor)": "list page 1",
        "list by status page 200 (cursor)": "list by status page 1",
        "list page 200 (?page=200, offset)": "list page 1",
        "changes feed page after 10,000": "changes feed page",
    }
    worst = 0.0
    for name, value in at_scale.items():
        reference = near_empty[baseline.get(name, name)]
        ratio = value / reference
        if "offset" not in name:
            worst = max(worst, ratio)
        print(f"{name:<36} {reference:>14.2f} {value:>12.2f} {ratio:>6.2f}")
    print(f"pages 1 and 200 (keyset) within 2x of near-empty: {'yes' if worst <= 2 else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
