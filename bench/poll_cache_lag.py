"""How long a change made by another process takes to reach the gateway's poll cache.

The cache (gateway/services/profile_cache.py) answers a repeated poll from memory and learns of a
change from PocketBase's realtime stream; a change made through another process's client (the
worker's, the admin UI's) is therefore seen by polls only once its event has arrived. This bench
measures that lag: a fresh PocketBase, a gateway app in this process with profiles polled until
cached, then ``--changes`` status-free updates made over a connection of their own (as another
process would), each timed from the moment its write returned to the moment the cache holds the
new version. Bounded: a fixed number of changes, each waited for at most 5 s.

    python bench/poll_cache_lag.py [--changes 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_store import bench_settings  # noqa: E402
from gateway import create_app  # noqa: E402
from gateway.pb_server import PocketBaseServer  # noqa: E402
from gateway.services import partners  # noqa: E402

PROFILES = 20


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and print the lag's percentiles."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="poll-cache-lag-") as folder:
        workdir = Path(folder)
        server = PocketBaseServer.throwaway(workdir, email="bench@ekyc.test")
        try:
            app = create_app(bench_settings(server, workdir, rate_limit="1000000/minute"))
            client = app.test_client()
            services = app.extensions["ekyc"]
            cache = services.profiles.reads.cache
            created = partners.create_partner(services.pb, "Bench partner", ("partner",))
            headers = {"x-api-key": created["api_key"]}
            ids = [
                client.post(
                    "/api/profiles", json={"external_ref": f"lag-{n}"}, headers=headers
                ).get_json()["id"]
                for n in range(PROFILES)
            ]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(cache.lookup(i) is None for i in ids):
                for profile_id in ids:
                    client.get(f"/api/profiles/{profile_id}", headers=headers)
                time.sleep(0.01)
            session = requests.Session()
            token = session.post(
                f"{server.url}/api/collections/_superusers/auth-with-password",
                json={"identity": server.superuser_email, "password": server.superuser_password},
                timeout=10,
            ).json()["token"]
            session.headers["Authorization"] = token
            lags_ms, missed = [], 0
            for n in range(args.changes):
                profile_id = ids[n % PROFILES]
                before = cache.lookup(profile_id)
                response = session.patch(
                    f"{server.url}/api/collections/profiles/records/{profile_id}",
                    json={"external_ref": f"bench-change-{n}"},
                    timeout=10,
                )
                written = time.perf_counter()
                response.raise_for_status()
                wanted = int(response.json()["version"])
                while True:
                    current = cache.lookup(profile_id)
                    if current is not None and current.version >= wanted:
                        lags_ms.append((time.perf_counter() - written) * 1000)
                        break
                    if time.perf_counter() - written > 5:
                        missed += 1
                        break
                    time.sleep(0.0002)
                assert before is None or before.version < wanted
            quantiles = statistics.quantiles(lags_ms, n=100)
            print(
                f"poll cache lag after a write by another process ({len(lags_ms)} changes): "
                f"p50 {quantiles[49]:.2f} ms, p95 {quantiles[94]:.2f} ms, "
                f"max {max(lags_ms):.2f} ms; not seen within 5 s: {missed}"
            )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
