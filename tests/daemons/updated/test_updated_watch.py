"""corral-updated follows its settings and requests with watches: a change is acted on
within a tick, and between changes the idle daemon asks the store nothing (every
request it sends is counted by a recording proxy in front of a real corral-store)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from updated_harness import Machine, ctl, status

from corral.client import Client, EtcdError
from corral.request_log import RequestLog
from corral.testing import wait_until
from corral.updated import records as r

TICK = 1.0  # the daemon's default --tick


def _note(endpoint: str) -> str:
    try:
        return status(endpoint, "m1").note
    except EtcdError:
        return ""  # not published yet


def _reads(requests: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Everything but the watches' long polls."""
    return [(m, p) for m, p in requests if "wait=true" not in p]


def test_a_setting_is_acted_on_within_a_tick_and_nothing_is_asked_between_changes(
    store, upstream, signers, tmp_path: Path
):
    url = upstream.serve()
    proxy = RequestLog(store.url).start()
    m = Machine(tmp_path, "m1", proxy.url, url, signers, strategy="off", whole_steps=False,
                settle=False)  # fmt: skip
    m.updater.config.tick = TICK
    stop = threading.Event()
    runner = threading.Thread(target=m.updater.run, args=(stop.wait,), daemon=True)
    try:
        runner.start()
        wait_until(lambda: _note(store.url) == "up to date (1.0.0)", 10, "checked")
        time.sleep(TICK)  # the pass that checked has written its status
        idle = proxy.mark()
        time.sleep(3 * TICK)
        assert _reads(proxy.since(idle)) == []  # three idle ticks: not one request

        changed = time.monotonic()
        assert ctl(store.url, "update", "set", "m1", "--strategy", "external")[0] == 0
        wait_until(lambda: status(store.url, "m1").strategy == "external", 3, "applied")
        assert time.monotonic() - changed < TICK + 0.5

        asked = time.monotonic()
        assert ctl(store.url, "update", "check", "m1")[0] == 0
        with Client(store.url) as c:
            wait_until(lambda: not c.get(f"{r.REQUESTS}/m1").node.nodes, 3, "check taken")
        assert time.monotonic() - asked < TICK + 0.5

        time.sleep(TICK)  # the check's writes are done
        between = proxy.mark()
        time.sleep(3 * TICK)
        assert _reads(proxy.since(between)) == []
        config_reads = [p for _, p in _reads(proxy.requests) if "/update/config" in p]
        assert len(config_reads) == 1, config_reads  # the first read alone
    finally:
        stop.set()
        runner.join(10)
        m.close()
        proxy.stop()


def test_a_watch_that_fell_out_of_the_history_reads_again_and_misses_nothing(
    store, upstream, signers, tmp_path: Path
):
    url = upstream.serve()
    proxy = RequestLog(store.url).start()
    m = Machine(tmp_path, "m1", proxy.url, url, signers, strategy="off", whole_steps=False,
                settle=False)  # fmt: skip
    try:
        m.updater.after_boot()
        m.updater.step()
        with Client(store.url) as c:
            proxy.hold()  # the watch answered next asks again only after 1,100 writes
            c.set(f"{r.CONFIG}/all", '{"strategy": "lock"}')
            for i in range(1100):
                c.set(f"/elsewhere/k{i % 10}", str(i))
            c.set(f"{r.CONFIG}/m1", '{"strategy": "external"}')
            proxy.release()

        def applied() -> bool:
            m.updater.step()
            return status(store.url, "m1").strategy == "external"

        wait_until(applied, 5, "the machine's record applied")
        config_reads = [p for _, p in _reads(proxy.requests) if "/update/config" in p]
        assert len(config_reads) == 2, config_reads  # first read, and once more after 401
    finally:
        m.close()
        proxy.stop()
