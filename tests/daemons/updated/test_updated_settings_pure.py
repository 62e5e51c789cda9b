"""Settings records (channel, strategy, windows) as pure rules: what parses, what is
refused and why, and how the layers override each other."""

from __future__ import annotations

import pytest

from corral.mirror.layout import MirrorError
from corral.mirror.layout import check_channel as mirror_channel
from corral.updated.settings import (
    Settings,
    SettingsError,
    check_channel,
    effective,
    parse_settings,
    settings_from,
)

FLAGS = Settings("stable", "reboot", ())


def test_a_record_sets_only_the_fields_it_names():
    s = parse_settings('{"channel": "beta", "windows": ["Mon-Fri  02:00 2h Europe/Berlin"]}')
    assert s == Settings("beta", None, ("Mon-Fri 02:00 2h Europe/Berlin",))
    assert s.as_dict() == {"channel": "beta", "windows": ["Mon-Fri 02:00 2h Europe/Berlin"]}
    assert parse_settings(s.encode()) == s
    assert parse_settings("{}") == Settings()


def test_the_machine_overrides_the_cluster_which_overrides_the_flags():
    cluster = Settings(channel="beta", strategy="lock")
    machine = Settings(strategy="external", windows=())
    assert effective(FLAGS, Settings(), Settings()) == FLAGS
    assert effective(FLAGS, cluster, Settings()) == Settings("beta", "lock", ())
    assert effective(FLAGS, cluster, machine) == Settings("beta", "external", ())
    # an empty list of windows (any time) overrides windows set below
    assert effective(Settings("stable", "reboot", ("daily 04:00 1h",)), Settings(),
                     machine).windows == ()  # fmt: skip
    assert Settings("beta", "lock", ()).without(("channel", "windows")) == Settings(None, "lock")


@pytest.mark.parametrize("text, message", [
    ("", "not JSON"),
    ("beta", "not JSON"),
    ('["beta"]', "not a JSON object"),
    ('{"chanel": "beta"}', "unknown field(s) 'chanel'; known: channel, strategy, windows"),
    ('{"channel": null}', "leave a field out"),
    ('{"channel": "Beta"}', "channel 'Beta': use lower-case letters"),
    ('{"channel": 7}', "channel 7"),
    ('{"strategy": "sometimes"}', "strategy 'sometimes': choose one of reboot, lock, off,"
                                  " external"),
    ('{"windows": "Mon 02:00 1h"}', "give a list of windows"),
    ('{"windows": [3]}', "window 3 is not a string"),
    ('{"windows": ["Mon 02:00"]}', "expected DAYS START LENGTH"),
    ('{"windows": ["Mon 25:00 1h"]}', "is not HH:MM"),
    ('{"windows": ["Mon 02:00 1h Nowhere/City"]}', "unknown time zone"),
])  # fmt: skip
def test_a_bad_record_is_refused_with_what_is_wrong(text, message):
    with pytest.raises(SettingsError) as caught:
        parse_settings(text)
    assert message in str(caught.value)


def test_settings_from_options_leaves_unset_options_out():
    assert settings_from({"channel": None, "strategy": "lock", "windows": None}) == Settings(
        strategy="lock")
    with pytest.raises(SettingsError, match="window 'daily 2h 02:00'"):
        settings_from({"windows": ["daily 04:00 1h", "daily 2h 02:00"]})


@pytest.mark.parametrize("name", ["stable", "beta-2", "lts.24", "a_b", "Beta", "-x", "", "a/b",
                                  "x" * 63, "x" * 64])  # fmt: skip
def test_channel_names_are_the_mirrors(name):
    try:
        mirror_channel(name)
        mirror_ok = True
    except MirrorError:
        mirror_ok = False
    try:
        check_channel(name)
        ours = True
    except SettingsError:
        ours = False
    assert ours == mirror_ok
