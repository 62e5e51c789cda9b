"""The update modules' planning of settings, as pure rules: options merge into the
record, a record that does not parse is replaced, the effective settings follow the
layers, and nothing else changes what counts as a change."""

from __future__ import annotations

import json

from ansible_collections.corral.cloud.plugins.module_utils.updated_settings import Settings
from ansible_collections.corral.cloud.plugins.module_utils.updates import (
    UpdateLevers,
    UpdateWanted,
    plan_levers,
)

BELOW = Settings("stable", "lock", ("daily 04:00 1h",))  # flags under config/all


def test_options_merge_into_the_record_and_the_effective_settings_follow():
    current = UpdateLevers("m1", config=Settings(strategy="off"), below=BELOW)
    after = plan_levers(current, UpdateWanted("m1", config=Settings(channel="beta")), None)
    assert after.config == Settings("beta", "off")
    assert after.effective() == {"channel": "beta", "strategy": "off",
                                 "windows": ["daily 04:00 1h"]}  # fmt: skip
    assert after != current
    assert plan_levers(after, UpdateWanted("m1", config=Settings(channel="beta")), None) == after


def test_a_record_that_does_not_parse_is_replaced_only_when_settings_are_given():
    broken = UpdateLevers("m1", config_error="not JSON: '{oops'")
    assert plan_levers(broken, UpdateWanted("m1", held=True), None).config_error
    fixed = plan_levers(broken, UpdateWanted("m1", config=Settings(windows=())), None)
    assert (fixed.config, fixed.config_error) == (Settings(windows=()), "")
    assert "unreadable: not JSON" in json.loads(broken.render())["config"]


def test_what_lies_below_is_shown_but_is_not_a_change():
    a = UpdateLevers("m1", below=BELOW)
    b = UpdateLevers("m1", below=Settings())
    assert a == b and a.effective() != b.effective()
    assert b.effective() == {"channel": None, "strategy": None, "windows": None}
