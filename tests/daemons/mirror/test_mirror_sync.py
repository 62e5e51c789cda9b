"""sync: resumes after a cut transfer, stops endless data, changes nothing on failure."""

from __future__ import annotations

import pytest
from mirror_servers import MirrorServe, Trickster
from mirror_setup import Upstream, client_for, make_payload, make_upstream

from corral.mirror.cli import main
from corral.mirror.fetch import HttpFetcher
from corral.trust import PayloadTooLarge


@pytest.fixture
def upstream(tmp_path, keys) -> Upstream:
    return make_upstream(tmp_path, keys, payload_size=4 << 20)


def sync(internal, url, keys) -> int:
    return main(["sync", str(internal), url, "--key", keys.alice, "--key", keys.bob,
                 "--threshold", "2"])


def test_interrupted_sync_resumes_where_it_stopped(tmp_path, keys, upstream, capsys):
    payload = (tmp_path / "os-1.0.0.img").read_bytes()
    cuts = []

    def cut_first_transfer(path, handler) -> bool:
        if cuts:
            return False
        cuts.append(path)
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload[: len(payload) // 2])
        handler.close_connection = True
        return True

    internal = tmp_path / "internal"
    with Trickster(upstream.dir, cut_first_transfer) as server:
        assert sync(internal, server.url, keys) == 4
        assert "run again to resume" in capsys.readouterr().err
        assert not (internal / "channels/stable/release.json").exists()  # nothing visible
        assert sync(internal, server.url, keys) == 0
        payload_requests = [r for p, r in server.ranges if p.startswith("/pool/")]
    assert payload_requests == [None, f"bytes={len(payload) // 2}-"]
    assert next(internal.glob("pool/*/os-1.0.0.img")).read_bytes() == payload


def test_endless_payload_is_cut_at_the_declared_size(tmp_path, keys, upstream):
    sent = [0]

    def endless(path, handler) -> bool:
        handler.send_response(200)
        handler.end_headers()  # no Content-Length: the body ends when we say so, never
        chunk = b"\0" * 65536
        try:
            while sent[0] < 64 << 20:  # bound the test server, not the client
                handler.wfile.write(chunk)
                sent[0] += len(chunk)
        except OSError:
            pass  # the client hung up, as it should
        handler.close_connection = True
        return True

    with Trickster(upstream.dir, endless) as server:
        client = client_for(HttpFetcher(server.url), keys, tmp_path / "state.json")
        release = client.check()
        with pytest.raises(PayloadTooLarge, match="more than the declared"):
            client.download(release, tmp_path / "dl")
        assert sync(tmp_path / "internal", server.url, keys) == 3
    assert not list((tmp_path / "dl").iterdir())  # the oversized partial is gone
    assert sent[0] < 32 << 20  # the client stopped reading long before the server did


def test_failed_verification_leaves_the_old_release_served_and_intact(
    tmp_path, keys, upstream, capsys
):
    internal = tmp_path / "internal"
    up = MirrorServe(upstream.dir, tmp_path / "up.log").start()
    try:
        assert sync(internal, up.url, keys) == 0
        before = {p: p.read_bytes() for p in internal.rglob("*") if p.is_file()}
        # a new release whose payload is corrupted on the upstream after signing
        upstream.publish(make_payload(tmp_path / "os-2.0.0.img", 100_000), "2.0.0")
        bad = next(upstream.dir.glob("pool/*/os-2.0.0.img"))
        bad.write_bytes(bad.read_bytes()[:-1] + b"!")
        capsys.readouterr()
        assert sync(internal, up.url, keys) == 3
        assert "PayloadHashMismatch" in capsys.readouterr().err
        # and a release document changed after signing
        release = upstream.dir / "channels/stable/release.json"
        release.write_text(release.read_text().replace("2.0.0", "2.0.1"))
        assert sync(internal, up.url, keys) == 3
        assert "BadSignature" in capsys.readouterr().err
    finally:
        up.stop()
    after = {p: p.read_bytes() for p in internal.rglob("*")
             if p.is_file() and ".corral-mirror" not in p.parts}
    assert after == {p: b for p, b in before.items() if ".corral-mirror" not in p.parts}
    down = MirrorServe(internal, tmp_path / "down.log").start()
    try:
        client = client_for(HttpFetcher(down.url), keys, tmp_path / "state.json")
        release = client.check()
        assert str(release.version) == "1.0.0"
        assert client.download(release, tmp_path / "dl").read_bytes() == (
            tmp_path / "os-1.0.0.img").read_bytes()
    finally:
        down.stop()


def test_sync_keeps_the_previous_release(tmp_path, keys, upstream):
    internal = tmp_path / "internal"
    with Trickster(upstream.dir, lambda path, handler: False) as server:
        assert sync(internal, server.url, keys) == 0
        upstream.publish(make_payload(tmp_path / "os-2.0.0.img", 1000), "2.0.0")
        assert sync(internal, server.url, keys) == 0
    assert sorted(p.name for p in (internal / "channels/stable").iterdir()) == [
        "1.json", "2.json", "release.json"]
    assert sorted(p.name for p in internal.glob("pool/*/*")) == ["os-1.0.0.img", "os-2.0.0.img"]


def test_sync_refuses_a_threshold_that_would_trust_anything(tmp_path, keys, upstream, capsys):
    assert main(["sync", str(tmp_path / "internal"), str(upstream.dir), "--key", keys.alice,
                 "--threshold", "0"]) == 1
    assert "--threshold must be between 1 and 1" in capsys.readouterr().err
