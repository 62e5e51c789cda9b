"""Watches a cluster's stores from outside while something disrupts it: every 0.2 s it
reads one key from each store URL given and appends one JSON line per round to OUT,
`{"t": unix time, "up": [URLs that served the key]}`. Runs until SIGTERM.

usage: python store_probe.py OUT KEY URL [URL...]

Run inside the network namespace the stores are reached in (`ip netns exec NS ...`).
A store counts as up when it answers the key's GET with 200 within 3 s (generous:
the probe watches for outages, not for a slow machine).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def answers(url: str, key: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/keys{key}", timeout=3) as reply:
            return reply.status == 200
    except (OSError, urllib.error.URLError):
        return False


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out, key, urls = argv[0], argv[1], argv[2:]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(out, "a") as log, ThreadPoolExecutor(len(urls)) as pool:
        while not stop.is_set():
            t = time.time()
            replies = pool.map(answers, urls, [key] * len(urls))
            up = [u for u, ok in zip(urls, replies, strict=True) if ok]
            log.write(json.dumps({"t": t, "up": up}) + "\n")
            log.flush()
            stop.wait(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
