"""``python -m reliability.probe URL SECONDS INTERVAL``: how long a trivial request takes.

Run as a process of its own beside a load, so that what it measures is the server's
responsiveness and not the lag of the load client's event loop (which shares its two
cores with the stack). Blocking ``http.client`` on one keep-alive connection, one GET
every ``INTERVAL`` seconds; prints the successful requests' seconds as one JSON list.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from urllib.parse import urlsplit


def measure(url: str, seconds: float, interval: float) -> list[float]:
    """Seconds each successful GET of `url` took, one every `interval`, for `seconds`."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    conn = http.client.HTTPConnection(host, port, timeout=10)
    taken: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        began = time.monotonic()
        try:
            conn.request("GET", parts.path or "/")
            with conn.getresponse() as resp:
                resp.read()
                if resp.status == 200:
                    taken.append(time.monotonic() - began)
        except (OSError, http.client.HTTPException):
            conn.close()  # reconnects on the next request
        time.sleep(max(0.0, interval - (time.monotonic() - began)))
    conn.close()
    return taken


def main(argv: list[str]) -> int:
    url, seconds, interval = argv[0], float(argv[1]), float(argv[2])
    print(json.dumps(measure(url, seconds, interval)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
