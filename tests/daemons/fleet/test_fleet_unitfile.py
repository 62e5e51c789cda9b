"""Unit file syntax, names, templates and specifiers, as systemd defines them."""

from __future__ import annotations

import pytest

from corral.fleet import names
from corral.fleet.unitfile import UnitFileError, parse_unit


def test_repeated_keys_comments_and_continuations() -> None:
    unit = parse_unit(
        "# leading comment\n"
        "[Unit]\n"
        "Description = a  web server \n"
        "; another comment\n"
        "[Service]\n"
        "ExecStartPre=/bin/true\n"
        "ExecStart=/bin/sh -c \\\n"
        "  # a comment inside a continuation is skipped\n"
        "  'echo hi'\n"
        "Environment=A=1\n"
        "Environment=B=2\n"
    )
    assert unit.last("Unit", "Description") == "a  web server"
    assert unit.values("Service", "ExecStart") == ["/bin/sh -c 'echo hi'"]
    assert unit.values("Service", "Environment") == ["A=1", "B=2"]
    assert unit.values("Service", "Missing") == []


def test_empty_assignment_resets_the_list() -> None:
    unit = parse_unit("[Service]\nExecStartPre=/a\nExecStartPre=\nExecStartPre=/b\n")
    assert unit.values("Service", "ExecStartPre") == ["/b"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Key=1\n", "outside of a section"),
        ("[Service\nA=1\n", "bad section header"),
        ("[Service]\njustaword\n", "expected Key=Value"),
    ],
)
def test_bad_syntax_names_the_line(text: str, message: str) -> None:
    with pytest.raises(UnitFileError, match=message):
        parse_unit(text)


def test_template_and_instance_names() -> None:
    assert names.is_template("web@.service")
    assert not names.is_template("web@1.service")
    assert names.is_instance("web@1.service")
    assert names.template_of("web@1.service") == "web@.service"
    assert names.prefix("web@1.service") == "web"
    assert names.instance("web@1.service") == "1"
    assert names.instance("web.service") == ""
    with pytest.raises(names.UnitNameError, match="invalid unit name"):
        names.check_name("web")
    with pytest.raises(names.UnitNameError):
        names.check_name("web.bogus")


@pytest.mark.parametrize(
    "name",
    ["a.service", "web@.service", "web@a@b.service", "x:y_z.-\\.timer", "a" * 247 + ".service"],
)
def test_names_systemd_takes(name: str) -> None:
    names.check_name(name)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a" * 248 + ".service", "256 characters, at most 255"),
        ("@x.service", "the name before the type"),
        ("caf\u00e9.service", "the name before the type"),
        ("a b.service", "the name before the type"),
        ("web@a/b.service", "the instance after '@'"),
        ("web@a b.service", "the instance after '@'"),
        (".service", "the name before the type"),
        ("web.Service", "expected NAME.TYPE"),
    ],
)
def test_names_systemd_refuses(name: str, problem: str) -> None:
    with pytest.raises(names.UnitNameError, match=problem):
        names.check_name(name)


def test_specifiers() -> None:
    got = names.expand_specifiers("%n %N %p %i 100%% %H", "web@eu-1.service")
    assert got == "web@eu-1.service web@eu-1 web eu-1 100% %H"
