"""[X-Fleet] options, metadata requirements and the checks made at submit."""

from __future__ import annotations

import pytest

from corral.fleet.metadata import MetadataError, parse_metadata, parse_terms, requirement
from corral.fleet.spec import SubmitError, unit_spec


def _req(*lines: str):
    return requirement(parse_terms(lines))


def test_metadata_and_within_a_line_or_across_repeated_keys() -> None:
    same_line = _req("region=eu disk=ssd")
    assert same_line.matches({"region": "eu", "disk": "ssd"})
    assert not same_line.matches({"region": "eu", "disk": "hdd"})
    repeated = _req("region=eu", "region=us")
    assert repeated.matches({"region": "us"})
    assert not repeated.matches({"region": "ap"})
    assert not repeated.matches({})


def test_metadata_negation_and_comparisons() -> None:
    req = _req("disk!=hdd ram>=2048", "ram<8192")
    assert req.matches({"ram": "4096", "disk": "ssd"})
    assert req.matches({"ram": "2048"})  # no disk key: != holds
    assert not req.matches({"ram": "4096", "disk": "hdd"})
    assert not req.matches({"ram": "1024"})
    assert not req.matches({"ram": "8192"})
    assert not req.matches({"ram": "lots"})
    assert not req.matches({"disk": "ssd"})
    assert _req("cpus>2").matches({"cpus": "3"}) and not _req("cpus>2").matches({"cpus": "2"})


def test_bad_metadata_is_refused_with_the_term() -> None:
    with pytest.raises(MetadataError, match=r"'ram>=lots'.*needs a number"):
        parse_terms(["ram>=lots"])
    with pytest.raises(MetadataError, match="expected KEY=VALUE"):
        parse_terms(["justakey"])
    with pytest.raises(MetadataError, match="expected KEY=VALUE"):
        parse_metadata("region=eu,oops")
    assert parse_metadata(" region=eu, disk=ssd ,") == {"region": "eu", "disk": "ssd"}


def test_options_with_specifiers_in_an_instance() -> None:
    spec = unit_spec(
        "web@2.service",
        "[Service]\nExecStart=/bin/true\n[X-Fleet]\nConflicts=%p@*.service\n"
        'MachineOf=db@%i.service\nMachineMetadata="role=web" zone=%i\n',
    )
    o = spec.options
    assert o.conflicts == ("web@*.service",)
    assert o.machine_of == ("db@2.service",)
    assert o.metadata.matches({"role": "web", "zone": "2"})
    assert len(spec.hash) == 40


@pytest.mark.parametrize(
    ("xfleet", "message"),
    [
        ("Global=true\nMachineOf=db.service", "Global=true cannot be combined with MachineOf"),
        ("Global=true\nConflicts=a*", "cannot be combined with Conflicts"),
        ("Global=maybe", "not a boolean"),
        ("MachineID=a\nMachineOf=db.service", "use one of them"),
        ("MachineOf=u.service", "names the unit itself"),
        ("X-ConditionMachineOf=db.service", "renamed MachineOf"),
        ("Colour=blue", "unknown \\[X-Fleet\\] option 'Colour'"),
        ("MachineMetadata=ram>=many", "needs a number"),
        ("MachineOf=db@.service", "names a template"),
    ],
)
def test_invalid_units_are_refused_at_submit(xfleet: str, message: str) -> None:
    with pytest.raises(SubmitError, match=message):
        unit_spec("u.service", f"[Service]\nExecStart=/bin/true\n[X-Fleet]\n{xfleet}\n")


def test_a_template_may_name_its_instance_in_machine_of() -> None:
    contents = "[Service]\nExecStart=/bin/true\n[X-Fleet]\nMachineOf=db@%i.service\n"
    assert unit_spec("web@.service", contents).options.machine_of == ("db@.service",)
    assert unit_spec("web@7.service", contents).options.machine_of == ("db@7.service",)


def test_bad_name_and_empty_file_are_refused() -> None:
    with pytest.raises(SubmitError, match="invalid unit name"):
        unit_spec("nosuffix", "[Service]\nExecStart=/bin/true\n")
    with pytest.raises(SubmitError, match="empty"):
        unit_spec("a.service", "  \n")
    with pytest.raises(SubmitError, match="line 1"):
        unit_spec("a.service", "ExecStart=/bin/true\n")
