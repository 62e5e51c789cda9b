"""Upstream -> internal mirror -> client, over `serve`, nginx, and a tar bundle."""

from __future__ import annotations

import json
import tarfile
import urllib.request
from pathlib import Path

import pytest
from mirror_servers import MirrorServe, Nginx
from mirror_setup import Upstream, client_for, make_payload, make_upstream

from corral.mirror.cli import main
from corral.mirror.fetch import DirectoryFetcher, HttpFetcher
from corral.trust import Version


@pytest.fixture
def upstream(tmp_path, keys) -> Upstream:
    return make_upstream(tmp_path, keys)


def served(directory: Path, tmp: Path):
    return MirrorServe(directory, tmp / f"serve-{directory.name}.log")


def test_sync_over_http_then_client_verifies_from_internal_mirror(tmp_path, keys, upstream):
    up = served(upstream.dir, tmp_path).start()
    internal = tmp_path / "internal"
    try:
        assert main(["sync", str(internal), up.url, "--key", keys.alice, "--key", keys.bob,
                     "--threshold", "2"]) == 0
    finally:
        up.stop()
    # the upstream is gone: the client only talks to the internal mirror
    down = served(internal, tmp_path).start()
    try:
        client = client_for(HttpFetcher(down.url), keys, tmp_path / "state.json")
        release = client.check(installed=Version("0.9"))
        assert (str(release.version), release.serial) == ("1.0.0", 1)
        path = client.download(release, tmp_path / "downloads")
        assert path.read_bytes() == (tmp_path / "os-1.0.0.img").read_bytes()
    finally:
        down.stop()


def test_export_import_without_http(tmp_path, keys, upstream, capsys):
    upstream.publish(make_payload(tmp_path / "beta.img", 1000), "1.1.0-rc1", channel="beta")
    bundle = tmp_path / "stable.tar"
    assert main(["export", str(upstream.dir), str(bundle), "--channel", "stable"]) == 0
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    assert any(n.endswith("/os-1.0.0.img") for n in names)
    assert not [n for n in names if "beta" in n]  # neither its release nor its payload
    airgap = tmp_path / "airgap"
    assert main(["import", str(airgap), str(bundle), "--key", keys.alice, "--key", keys.bob,
                 "--threshold", "2"]) == 0
    assert "stable: updated" in capsys.readouterr().out
    assert json.loads((airgap / "channels.json").read_text()) == {"channels": ["stable"]}
    client = client_for(DirectoryFetcher(airgap), keys, tmp_path / "state.json")
    release = client.check()
    assert client.download(release, tmp_path / "dl").read_bytes() == (
        tmp_path / "os-1.0.0.img").read_bytes()


def test_import_of_tampered_bundle_changes_nothing(tmp_path, keys, upstream, capsys):
    airgap = tmp_path / "airgap"
    bundle = tmp_path / "b.tar"
    assert main(["export", str(upstream.dir), str(bundle)]) == 0
    assert main(["import", str(airgap), str(bundle), "--key", keys.alice, "--threshold", "1"]) == 0
    before = (airgap / "channels/stable/release.json").read_bytes()
    upstream.publish(make_payload(tmp_path / "v2.img", 5000), "2.0.0")
    assert main(["export", str(upstream.dir), str(bundle)]) == 0
    # flip one byte of the new payload inside the tar
    raw = bytearray(bundle.read_bytes())
    new_payload = (tmp_path / "v2.img").read_bytes()
    at = bytes(raw).index(new_payload[:64])
    raw[at + 100] ^= 0xFF
    bundle.write_bytes(bytes(raw))
    capsys.readouterr()
    assert main(["import", str(airgap), str(bundle)]) == 3
    assert "PayloadHashMismatch" in capsys.readouterr().err
    assert (airgap / "channels/stable/release.json").read_bytes() == before
    assert not list(airgap.glob("pool/*/v2.img"))


def test_serve_answers_range_and_etag_and_hides_work_area(tmp_path, upstream):
    up = served(upstream.dir, tmp_path).start()
    try:
        payload = (tmp_path / "os-1.0.0.img").read_bytes()
        path = next(upstream.dir.glob("pool/*/os-1.0.0.img")).relative_to(upstream.dir)
        req = urllib.request.Request(f"{up.url}/{path}", headers={"Range": "bytes=100-199"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 206
            assert resp.read() == payload[100:200]
            etag = resp.headers["ETag"]
        req = urllib.request.Request(f"{up.url}/{path}", headers={"If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 304
        (upstream.dir / ".corral-mirror").mkdir(exist_ok=True)
        (upstream.dir / ".corral-mirror" / "secret").write_text("x")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{up.url}/.corral-mirror/secret", timeout=10)
        assert err.value.code == 404
        with urllib.request.urlopen(f"{up.url}/channels/stable/release.json", timeout=10) as r:
            assert r.headers["Cache-Control"] == "no-cache"
    finally:
        up.stop()


def test_nginx_serves_the_same_mirror_to_sync_and_to_clients(tmp_path, keys, upstream):
    nginx = Nginx(upstream.dir, tmp_path / "nginx").start()
    try:
        # a client straight from nginx, resuming a partial download with Range
        client = client_for(HttpFetcher(nginx.url), keys, tmp_path / "state.json")
        release = client.check()
        payload = (tmp_path / "os-1.0.0.img").read_bytes()
        dl = tmp_path / "dl"
        dl.mkdir()
        partial = dl / f".os-1.0.0.img.{release.payload.sha256[:16]}.partial"
        partial.write_bytes(payload[: len(payload) // 3])
        assert client.download(release, dl).read_bytes() == payload
        # and a downstream mirror syncing from nginx
        internal = tmp_path / "internal"
        assert main(["sync", str(internal), nginx.url, "--key", keys.bob,
                     "--threshold", "1"]) == 0
        assert next(internal.glob("pool/*/os-1.0.0.img")).read_bytes() == payload
    finally:
        nginx.stop()
