"""The modules' transport, open_url, against a real store: errors are answers,
unreachable stores are StoreUnavailable."""

from __future__ import annotations

import pytest
from ansible_collections.corral.cloud.plugins.module_utils.client import (
    Client,
    StoreUnavailable,
)
from ansible_collections.corral.cloud.plugins.module_utils.etcd_errors import (
    KeyNotFound,
    TestFailed,
)
from ansible_collections.corral.cloud.plugins.module_utils.open_url_transport import (
    OpenUrlTransport,
)

from corral.testing import free_port


def test_keys_round_trip_through_open_url(endpoint):
    client = Client(endpoint, transport=OpenUrlTransport())
    created = client.set("/t/a", "v 1 & ü", ttl=30)
    assert created.node.ttl is not None
    got = client.get("/t/a")
    assert got.node.value == "v 1 & ü"
    assert got.etcd_index is not None and got.etcd_index >= created.node.modified_index
    assert client.get("/t", recursive=True).node.to_tree() == {"a": "v 1 & ü"}
    client.delete("/t", recursive=True, dir=True)


def test_store_errors_come_back_as_etcd_errors(endpoint):
    client = Client(endpoint, transport=OpenUrlTransport())
    with pytest.raises(KeyNotFound) as missing:
        client.get("/nope")
    assert missing.value.code == 100 and missing.value.status == 404
    client.set("/k", "one")
    with pytest.raises(TestFailed) as failed:
        client.set("/k", "two", prev_value="zero")
    assert failed.value.code == 101
    assert client.get("/k").node.value == "one"


def test_a_closed_port_is_store_unavailable_refused():
    url = f"http://127.0.0.1:{free_port()}"
    client = Client(url, transport=OpenUrlTransport())
    with pytest.raises(StoreUnavailable) as exc:
        client.get("/k")
    assert url in str(exc.value)
    assert isinstance(exc.value.__cause__, ConnectionRefusedError)


def test_a_read_moves_on_to_the_next_endpoint(endpoint):
    dead = f"http://127.0.0.1:{free_port()}"
    client = Client(f"{dead},{endpoint}", transport=OpenUrlTransport())
    client.set("/k", "v")
    assert client.get("/k").node.value == "v"
    assert client.endpoint == endpoint
