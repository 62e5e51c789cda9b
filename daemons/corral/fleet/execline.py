"""systemd's command lines and environment settings (pure, no I/O).

- `Exec*=` lines: optional prefixes (`-` ignores a failure; `@`, `+`, `!`, `!!`, `:`
  are accepted and have no further effect here), specifiers (%n %N %p %i %%), then
  `${VAR}` replaced inside words and a lone `$VAR` word split into words, as systemd
  does, then quoting as in systemd (shell-like, no shell runs).
- `Environment=` holds space-separated, optionally quoted `KEY=VALUE` assignments.
- `EnvironmentFile=` names a file (a `-` prefix: a missing file is fine) of
  `KEY=VALUE` lines with `#`/`;` comments.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from corral.fleet.names import expand_specifiers

_VAR_BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_VAR_WORD = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")


class ExecError(ValueError):
    """A command line or environment setting that cannot be used."""


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    ignore_failure: bool = False


def parse_command(line: str, unit_name: str, env: Mapping[str, str]) -> Command:
    text = line.strip()
    ignore = False
    while text and text[0] in "-@+!:":
        ignore = ignore or text[0] == "-"
        text = text[1:]
    text = expand_specifiers(text, unit_name)
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ExecError(f"cannot parse command {line!r}: {exc}") from exc
    argv: list[str] = []
    for word in words:
        lone = _VAR_WORD.match(word)
        if lone:
            argv.extend(env.get(lone.group(1), "").split())
        else:
            argv.append(_VAR_BRACED.sub(lambda m: env.get(m.group(1), ""), word))
    if not argv:
        raise ExecError(f"empty command in {line!r}")
    return Command(tuple(argv), ignore)


def parse_environment(values: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in values:
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise ExecError(f"Environment={value}: {exc}") from exc
        for word in words:
            key, sep, val = word.partition("=")
            if not sep or not key:
                raise ExecError(f"Environment={value}: {word!r} is not KEY=VALUE")
            env[key] = val
    return env


def parse_environment_file(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, val = line.partition("=")
        if not sep or not key.strip():
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
            val = val[1:-1]
        env[key.strip()] = val
    return env


def parse_seconds(text: str | None, default: float) -> float:
    """systemd time spans: `5`, `5s`, `500ms`, `1min 30s`, `infinity`."""
    if text is None or not text.strip():
        return default
    if text.strip() == "infinity":
        return float("inf")
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "": 1}
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)\s*([a-z]*)", text):
        if unit not in units:
            raise ExecError(f"bad time span {text!r}")
        total += float(number) * units[unit]
    if not re.fullmatch(r"(\s*[0-9.]+\s*[a-z]*)+\s*", text):
        raise ExecError(f"bad time span {text!r}")
    return total
