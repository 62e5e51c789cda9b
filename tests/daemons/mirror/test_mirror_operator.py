"""The operator's commands: publish, promote, resign, keys, prune, and their errors."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from mirror_setup import PRODUCT, Upstream, client_for, make_payload, make_upstream

from corral.mirror.client import ClientConfig, MirrorClient
from corral.mirror.fetch import DirectoryFetcher
from corral.mirror.gpg import Signer
from corral.mirror.layout import Layout, MirrorError
from corral.mirror.publish import publish
from corral.mirror.sync import sync
from corral.trust import ExpiredDocument, RollbackAttack, ThresholdNotMet


@pytest.fixture
def up(tmp_path, keys) -> Upstream:
    return make_upstream(tmp_path, keys, payload_size=1000)


def signed(doc_path) -> dict:
    return json.loads(json.loads(doc_path.read_text())["signed"])


def test_publish_promote_resign_keep_serials_growing(tmp_path, keys, up, capsys):
    stable = up.dir / "channels/stable/release.json"
    assert up.cli("publish", str(up.dir), str(make_payload(tmp_path / "b.img", 10)),
                  "--channel", "beta", "--version", "2.0.0", "--key", keys.alice,
                  "--key", keys.bob, "--min-version", "1.0.0") == 0
    assert up.cli("promote", str(up.dir), "--from", "beta", "--to", "stable",
                  "--key", keys.alice, "--key", keys.bob) == 0
    promoted = signed(stable)
    beta = signed(up.dir / "channels/beta/release.json")
    assert (promoted["serial"], promoted["version"]) == (2, "2.0.0")
    assert promoted["release_id"] == beta["release_id"]
    assert promoted["payload"] == beta["payload"]
    assert promoted["min_version"] == "1.0.0"
    assert up.cli("resign", str(up.dir), "--channel", "stable", "--expires", "90d",
                  "--key", keys.alice, "--key", keys.bob) == 0
    renewed = signed(stable)
    assert renewed["serial"] == 3
    assert renewed["release_id"] == promoted["release_id"]
    assert renewed["expires"] > promoted["expires"]
    capsys.readouterr()
    # downgrade needs --allow-downgrade, and then says so in the document
    old = str(make_payload(tmp_path / "old.img", 10))
    args = ["publish", str(up.dir), old, "--channel", "stable", "--version", "1.5.0",
            "--key", keys.alice, "--key", keys.bob]
    assert up.cli(*args) == 1
    assert "--allow-downgrade" in capsys.readouterr().err
    assert up.cli(*args, "--allow-downgrade") == 0
    assert signed(stable)["allow_downgrade"] is True


def test_expires_takes_the_one_duration_grammar(keys, up, capsys):
    # 1h30m was refused (one number, one unit), as were 5min and 500ms
    before = datetime.now(UTC)
    assert up.cli("resign", str(up.dir), "--channel", "stable", "--expires", "1h30m",
                  "--key", keys.alice, "--key", keys.bob) == 0  # fmt: skip
    expires = datetime.fromisoformat(signed(up.dir / "channels/stable/release.json")["expires"])
    assert before + timedelta(minutes=89) < expires < datetime.now(UTC) + timedelta(minutes=91)
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        up.cli("resign", str(up.dir), "--channel", "stable", "--expires", "1fortnight")
    assert refused.value.code == 2
    assert "--expires: bad duration '1fortnight'" in capsys.readouterr().err


def test_publish_with_too_few_keys_is_refused(tmp_path, keys, up, capsys):
    before = (up.dir / "channels/stable/release.json").read_bytes()
    payload = str(make_payload(tmp_path / "x.img", 10))
    assert up.cli("publish", str(up.dir), payload, "--channel", "stable", "--version", "3.0",
                  "--key", keys.alice, "--key", keys.mallory) == 1
    assert "threshold is 2" in capsys.readouterr().err
    assert (up.dir / "channels/stable/release.json").read_bytes() == before


def test_key_rotation_is_followed_by_clients_pinned_on_the_old_keys(tmp_path, keys, up, capsys):
    client = client_for(DirectoryFetcher(up.dir), keys, tmp_path / "state.json")
    client.check()  # first contact: root version 1 (alice, bob)
    # adding carol needs the old threshold; alice alone is not enough
    assert up.cli("keys", str(up.dir), "add", keys.carol, "--key", keys.alice) == 1
    assert up.cli("keys", str(up.dir), "add", keys.carol, "--key", keys.alice,
                  "--key", keys.bob) == 0
    capsys.readouterr()
    assert up.cli("keys", str(up.dir), "remove", keys.alice, "--key", keys.bob,
                  "--key", keys.carol) == 0
    # stable was signed by alice and bob: with alice gone it must be re-signed
    assert "channel stable no longer meets the threshold" in capsys.readouterr().out
    assert sorted(p.name for p in (up.dir / "root").iterdir()) == ["1.json", "2.json", "3.json"]
    up.signers = (keys.bob, keys.carol)
    up.publish(make_payload(tmp_path / "v2.img", 100), "2.0.0")
    release = client.check()  # walks root 2 and 3, then trusts bob + carol
    assert str(release.version) == "2.0.0"
    # a new client pinned on alice + bob no longer accepts the current root
    fresh = client_for(DirectoryFetcher(up.dir), keys, tmp_path / "fresh.json")
    with pytest.raises(ThresholdNotMet, match="pinned keys"):
        fresh.check()


def test_client_remembers_serials_and_refuses_rollback_and_freeze(tmp_path, keys, up):
    old_copy = tmp_path / "old-mirror"
    shutil.copytree(up.dir, old_copy)
    up.publish(make_payload(tmp_path / "v2.img", 100), "2.0.0")
    state = tmp_path / "state.json"
    assert client_for(DirectoryFetcher(up.dir), keys, state).check().serial == 2
    # a new process, same state file, pointed at a stale copy of the mirror
    with pytest.raises(RollbackAttack, match="serial 1 is lower than 2"):
        client_for(DirectoryFetcher(old_copy), keys, state).check()
    later = datetime.now(UTC) + timedelta(days=45)
    frozen = MirrorClient(DirectoryFetcher(up.dir),
                          ClientConfig(PRODUCT, "stable", (keys.alice, keys.bob), 2),
                          state, clock=lambda: later)
    with pytest.raises(ExpiredDocument):
        frozen.check()


def test_prune_keeps_the_newest_releases_and_their_payloads(tmp_path, keys, up, capsys):
    for n in (2, 3, 4):
        up.publish(make_payload(tmp_path / f"os-{n}.img", 100), f"{n}.0.0")
    assert up.cli("resign", str(up.dir), "--channel", "stable",
                  "--key", keys.alice, "--key", keys.bob) == 0
    assert up.cli("prune", str(up.dir), "--keep", "2") == 0
    assert sorted(p.name for p in up.dir.glob("pool/*/*")) == ["os-3.img", "os-4.img"]
    assert sorted(p.name for p in (up.dir / "channels/stable").iterdir()) == [
        "3.json", "4.json", "5.json", "release.json"]
    client = client_for(DirectoryFetcher(up.dir), keys, tmp_path / "state.json")
    assert str(client.check().version) == "4.0.0"
    assert up.cli("prune", str(up.dir), "--keep", "0") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["publish", "{dir}", "{dir}/nope.img", "--channel", "stable", "--version", "9"],
         "is not a file"),
        (["publish", "{dir}", "{dir}/root.json", "--channel", "Bad/Name", "--version", "9"],
         "bad channel name"),
        (["publish", "{dir}", "{dir}/root.json", "--channel", "stable", "--version", "v9"],
         "not a version"),
        (["promote", "{dir}", "--from", "nightly", "--to", "stable"], "no release to promote"),
        (["keys", "{tmp}", "list"], "is not a mirror"),
        (["init", "{dir}", "--key", "ABCD"], "already a mirror"),
        (["serve", "{dir}", "--listen", "nonsense"], "bad --listen"),
        (["import", "{dir}", "{dir}/root.json"], "not a readable tar bundle"),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path, keys, up, capsys, args, message):
    argv = [a.format(dir=up.dir, tmp=tmp_path) for a in args]
    signing = ["--key", keys.alice, "--key", keys.bob] if argv[0] in ("publish", "promote") else []
    assert up.cli(*argv, *signing) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_keys_list_shows_version_threshold_and_signers(keys, up, capsys):
    capsys.readouterr()
    assert up.cli("keys", str(up.dir), "list") == 0
    out = capsys.readouterr().out
    assert "root version 1, threshold 2 of 2" in out
    assert f"{keys.alice}  alice <alice@corral.test>" in out
    assert f"{keys.bob}  bob <bob@corral.test>" in out


def test_an_expired_root_is_refused_until_the_keys_renew_it(tmp_path, keys, capsys):
    up = Upstream(tmp_path / "upstream", keys.home, (keys.alice, keys.bob))
    assert up.cli("init", str(up.dir), "--key", keys.alice, "--key", keys.bob, "--threshold",
                  "2", "--product", PRODUCT, "--expires", "10d") == 0
    up.publish(make_payload(tmp_path / "a.img", 100), "1.0.0")  # the release lasts 30 days
    state = tmp_path / "state.json"
    later = datetime.now(UTC) + timedelta(days=20)

    def client_later() -> MirrorClient:
        config = ClientConfig(PRODUCT, "stable", (keys.alice, keys.bob), 2)
        return MirrorClient(DirectoryFetcher(up.dir), config, state, clock=lambda: later)

    client_for(DirectoryFetcher(up.dir), keys, state).check()  # today all is well
    with pytest.raises(ExpiredDocument, match="root version 1 expired"):
        client_later().check()
    # a downstream mirror will not take the frozen root either
    with pytest.raises(ExpiredDocument, match="root version 1 expired"):
        sync(Layout(tmp_path / "internal"), DirectoryFetcher(up.dir), now=later,
             pinned=[keys.alice, keys.bob], threshold=2)
    assert not (tmp_path / "internal" / "root.json").exists()
    # nor does the operator sign under it
    with pytest.raises(MirrorError, match="renew it first"):
        publish(Layout(up.dir), Signer(str(keys.home)), [keys.alice, keys.bob],
                make_payload(tmp_path / "b.img", 10), channel="stable", version="2.0.0",
                expires=timedelta(days=30), now=later)
    # renewing takes the threshold of the keys, like any root change
    capsys.readouterr()
    assert up.cli("keys", str(up.dir), "renew", "--key", keys.alice) == 1
    assert "threshold is 2" in capsys.readouterr().err
    assert up.cli("keys", str(up.dir), "renew", "--key", keys.alice, "--key", keys.bob) == 0
    assert "root version 2: threshold 2 of 2 keys, expires" in capsys.readouterr().out
    assert str(client_later().check().version) == "1.0.0"  # walks to version 2
    assert up.cli("keys", str(up.dir), "list") == 0
    assert "root version 2, threshold 2 of 2, expires" in capsys.readouterr().out
