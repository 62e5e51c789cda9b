"""The agent's convergence plan and the command-line helpers, with plain calls."""

from __future__ import annotations

import pytest

from corral.fleet.convergence import Action, Wanted, plan
from corral.fleet.execline import (
    ExecError,
    parse_command,
    parse_environment,
    parse_environment_file,
)
from corral.fleet.systemd_executor import parse_show


def test_plan_orders_stops_unloads_loads_starts() -> None:
    wanted = {
        "new.service": Wanted("h1", "C1", "launched"),
        "changed.service": Wanted("h2", "C2", "launched"),
        "stopme.service": Wanted("h3", "C3", "loaded"),
        "same.service": Wanted("h4", "C4", "launched"),
    }
    loaded = {
        "changed.service": "old",
        "stopme.service": "h3",
        "same.service": "h4",
        "gone.service": "h5",
    }
    launched = {"changed.service": "", "stopme.service": "", "same.service": "", "gone.service": ""}
    assert plan(wanted, loaded, launched) == [
        Action("stop", "gone.service"),
        Action("stop", "changed.service"),
        Action("stop", "stopme.service"),
        Action("unload", "gone.service"),
        Action("load", "changed.service", contents="C2"),
        Action("load", "new.service", contents="C1"),
        Action("start", "changed.service"),
        Action("start", "new.service"),
    ]


def test_a_launched_unit_is_not_started_again_but_restart_tokens_are_honoured() -> None:
    loaded = {"u.service": "h"}
    assert plan({"u.service": Wanted("h", "C", "launched")}, loaded, {"u.service": ""}) == []
    assert plan({"u.service": Wanted("h", "C", "launched", "t2")}, loaded, {"u.service": "t1"}) == [
        Action("restart", "u.service", token="t2")
    ]


def test_command_lines_as_systemd_reads_them() -> None:
    env = {"OPTS": "-a -b", "NAME": "x y"}
    cmd = parse_command("-/bin/echo $OPTS ${NAME} %i '${NAME}'", "w@3.service", env)
    assert cmd.ignore_failure
    assert cmd.argv == ("/bin/echo", "-a", "-b", "x y", "3", "x y")
    assert not parse_command("@/bin/true", "a.service", {}).ignore_failure
    with pytest.raises(ExecError, match="cannot parse"):
        parse_command("/bin/echo 'unterminated", "a.service", {})
    with pytest.raises(ExecError, match="empty command"):
        parse_command("-", "a.service", {})
    assert parse_environment(['A=1 "B=two words"', "C="]) == {"A": "1", "B": "two words", "C": ""}
    with pytest.raises(ExecError, match="not KEY=VALUE"):
        parse_environment(["novalue"])


def test_environment_quoting_as_systemd() -> None:
    assert parse_environment(
        ['"A=a b" B=c\\td \'C=x "y"\' D=\\x41\\101 "E=q\\"z" F=a\\sb G=\\q']
    ) == {"A": "a b", "B": "c\td", "C": 'x "y"', "D": "AA", "E": 'q"z', "F": "a b", "G": "\\q"}
    with pytest.raises(ExecError, match="unbalanced"):
        parse_environment(['"A=open'])
    with pytest.raises(ExecError, match="not KEY=VALUE"):
        parse_environment(["1A=x"])
    text = (
        "# c\\\ncontinued comment\n; also a comment\n"
        "A=plain  value \t \nB='single \\ $x'\n"
        'C="d \\" \\$ \\` \\\\ \\q"glued\n'
        "D=back\\ slash\\\ncontinued\n"
        " E = spaced \n"
        "no assignment here\n1X=bad name\nexport F=shell\nG=\nH=\"multi\nline\"\n"
    )
    assert parse_environment_file(text) == {
        "A": "plain  value",
        "B": "single \\ $x",
        "C": 'd " $ ` \\ \\qglued',
        "D": "back slashcontinued",
        "E": "spaced",
        "F": "shell",
        "G": "",
        "H": "multi\nline",
    }


def test_systemctl_show_output() -> None:
    status = parse_show(
        "LoadState=loaded\nActiveState=failed\nSubState=failed\nMainPID=0\nNRestarts=2\n"
    )
    assert (status.load, status.active, status.sub, status.failures) == (
        "loaded",
        "failed",
        "failed",
        3,
    )
    assert parse_show("LoadState=not-found\n").load == "not-found"
    # systemd's Result= is the reason shown for a failed unit
    failed = parse_show("LoadState=loaded\nActiveState=failed\nResult=exit-code\n")
    assert failed.reason == "result: exit-code"
    assert parse_show("ActiveState=active\nResult=success\n").reason == ""
