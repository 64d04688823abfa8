"""A tiny local registry for manual runs of the registry connector (not for production).

Serves the protocol of ``gateway.verification.registry`` on loopback:

    python scripts/registry_simulator.py --port 8765 --token secret-token

then set a partner's ``settings.registry`` to
``{"enabled": true, "kind": "national_id", "url": "http://127.0.0.1:8765/lookup",
"auth_header_name": "Authorization", "auth_header_value": "Bearer secret-token"}``.

National IDs: the last digit picks the answer (0-5 VALID, 6 BLOCKED, 7 DECEASED, 8-9 INVALID);
anything that is not 16 digits is INVALID. Professional registrations ``MD-<digits>``: ACTIVE
under the name given with ``--name`` (default "Jane Example"), ``SUSP-...`` SUSPENDED, anything
else NOT_FOUND. ``--fail-rate 0.3`` answers 503 to 30 % of requests, ``--delay-ms`` slows every
answer, to watch the retries and the circuit breaker.
"""

from __future__ import annotations

import argparse
import hmac
import json
import random
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NIK_PATTERN = re.compile(r"^\d{16}$")


def national_id_status(number: str) -> str:
    """The simulated answer for a national ID number."""
    if not NIK_PATTERN.match(number):
        return "INVALID"
    last = int(number[-1])
    if last <= 5:
        return "VALID"
    return {6: "BLOCKED", 7: "DECEASED"}.get(last, "INVALID")


def professional_answer(registration: str, name: str) -> dict[str, str]:
    """The simulated answer for a professional registration number."""
    if re.match(r"^MD-\d+$", registration):
        return {"status": "ACTIVE", "name": name}
    if registration.startswith("SUSP-"):
        return {"status": "SUSPENDED", "name": name}
    return {"status": "NOT_FOUND"}


def build_handler(args: argparse.Namespace) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to the command-line options."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, str]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            time.sleep(args.delay_ms / 1000)
            if args.token and not hmac.compare_digest(
                self.headers.get("Authorization", ""), f"Bearer {args.token}"
            ):
                self._answer(401, {"error": "unauthorized"})
                return
            if random.random() < args.fail_rate:
                self._answer(503, {"error": "simulated outage"})
                return
            try:
                length = int(self.headers.get("content-length") or 0)
                request = json.loads(self.rfile.read(length))
            except ValueError:
                self._answer(400, {"error": "body must be JSON"})
                return
            if request.get("type") == "national_id":
                self._answer(200, {"status": national_id_status(str(request.get("id_number")))})
            elif request.get("type") == "professional":
                registration = str(request.get("registration_number"))
                self._answer(200, professional_answer(registration, args.name))
            else:
                self._answer(400, {"error": "type must be national_id or professional"})

    return Handler


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="", help="require 'Authorization: Bearer <token>'")
    parser.add_argument("--name", default="Jane Example")
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), build_handler(args))
    print(f"registry simulator on http://{args.host}:{args.port}/lookup")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
