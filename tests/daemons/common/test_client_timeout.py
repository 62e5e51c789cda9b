"""A store that does not answer in time is a StoreError (StoreTimeout), which is also a
TimeoutError: threads that retry on StoreError keep running, callers that wait for a
TimeoutError still see one. The store is real, held back by a recording proxy."""

from __future__ import annotations

import time

import pytest

from corral.client import Client, StoreError, StoreTimeout, WatchTimeout
from corral.request_log import RequestLog


def test_a_request_unanswered_in_time_is_a_store_error_and_a_timeout(store) -> None:
    proxy = RequestLog(store.url).start()
    client = Client(proxy.url, timeout=0.3)
    try:
        client.set("/k", "v")
        proxy.hold()
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            client.get("/k")
        assert isinstance(caught.value, StoreTimeout) and isinstance(caught.value, TimeoutError)
        assert "no answer within 0.3s" in str(caught.value)
        assert time.monotonic() - started < 2
        proxy.release()
        assert client.get("/k").node.value == "v"  # the next request is answered
        with pytest.raises(WatchTimeout):
            client.watch("/k", timeout=0.2)
    finally:
        client.close()
        proxy.stop()
