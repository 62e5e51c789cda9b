r"""systemd's command lines and environment settings (pure, no I/O).

- `Exec*=` lines: optional prefixes (`-` ignores a failure; `@`, `+`, `!`, `!!`, `:`
  are accepted and have no further effect here), specifiers (%n %N %p %i %%), then
  `${VAR}` replaced inside words and a lone `$VAR` word split into words, as systemd
  does, then quoting as in systemd (shell-like, no shell runs).
- `Environment=` holds space-separated `KEY=VALUE` assignments, split as systemd
  splits them: `"..."` and `'...'` quote, and C escapes (`\n`, `\t`, `\x41`, `\101`,
  `\"`...) are decoded inside and outside quotes; no variable is expanded.
- `EnvironmentFile=` names a file (a `-` prefix: a missing file is fine) read as
  systemd reads it: `KEY=VALUE` lines, `#`/`;` comment lines, values in single quotes
  (literal), double quotes (`\` escapes only `"\`$` and a newline) or none (`\`
  escapes any character, trailing blanks dropped), a backslash before a newline
  continuing the value, quoted parts glued to what follows (`A="x"y` is `xy`).
  Lines whose key is no variable name are skipped, as systemd skips them.
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
    """One `Exec*=` line made ready to run: its argv, and whether a failure counts."""
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


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_C_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "s": " ", "\\": "\\", '"': '"', "'": "'",
}  # fmt: skip


def split_words(value: str) -> list[str]:
    """systemd's extract_first_word with unquoting and C unescaping."""
    words: list[str] = []
    word: list[str] | None = None
    quote = ""
    i = 0
    while i < len(value):
        ch = value[i]
        i += 1
        if ch == "\\":
            if i >= len(value):
                raise ValueError("trailing backslash")
            decoded, i = _unescape(value, i)
            word = (word or []) + [decoded]
        elif quote:
            if ch == quote:
                quote = ""
            else:
                word = (word or []) + [ch]
        elif ch in "\"'":
            quote = ch
            word = word or []
        elif ch.isspace():
            if word is not None:
                words.append("".join(word))
                word = None
        else:
            word = (word or []) + [ch]
    if quote:
        raise ValueError(f"unbalanced {quote}")
    if word is not None:
        words.append("".join(word))
    return words


def _unescape(text: str, i: int) -> tuple[str, int]:
    """The character escaped at text[i] (after a backslash) and the index after it."""
    ch = text[i]
    if ch in _C_ESCAPES:
        return _C_ESCAPES[ch], i + 1
    if ch == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 1 : i + 3]):
        return chr(int(text[i + 1 : i + 3], 16)), i + 3
    if re.fullmatch(r"[0-7]{3}", text[i : i + 3]):
        return chr(int(text[i : i + 3], 8)), i + 3
    return "\\" + ch, i + 1  # unknown: kept as written


def parse_environment(values: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in values:
        try:
            words = split_words(value)
        except ValueError as exc:
            raise ExecError(f"Environment={value}: {exc}") from exc
        for word in words:
            key, sep, val = word.partition("=")
            if not sep or not _ENV_NAME.fullmatch(key):
                raise ExecError(f"Environment={value}: {word!r} is not KEY=VALUE")
            env[key] = val
    return env


def parse_environment_file(text: str) -> dict[str, str]:
    """systemd's environment file format (see the module's docstring)."""
    env: dict[str, str] = {}
    for key, value in _env_file_assignments(text):
        if key.startswith("export "):
            key = key[len("export ") :].strip()  # a shell-style file, as often written
        if _ENV_NAME.fullmatch(key):
            env[key] = value
    return env


def _env_file_assignments(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        if text[i] in "#;":
            while i < n and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
            continue
        eq = text.find("=", i)
        newline = text.find("\n", i)
        if eq < 0 or (0 <= newline < eq):
            i = n if newline < 0 else newline + 1  # no "=" on the line: not an assignment
            continue
        key = text[i:eq].strip()
        value, i = _env_file_value(text, eq + 1)
        out.append((key, value))
    return out


def _env_file_value(text: str, i: int) -> tuple[str, int]:
    """The value starting at text[i], and the index after its line."""
    n = len(text)
    out: list[str] = []
    keep = 0  # length of `out` up to its last character that is not a trailing blank
    while i < n and text[i] in " \t":
        i += 1
    while i < n and text[i] != "\n":
        ch = text[i]
        if ch == "'":
            end = text.find("'", i + 1)
            end = n if end < 0 else end
            out.append(text[i + 1 : end])
            i = end + 1
            keep = len(out)
        elif ch == '"':
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    nxt = text[i + 1]
                    if nxt != "\n":
                        out.append(nxt if nxt in '"\\`$' else "\\" + nxt)
                    i += 2
                else:
                    out.append(text[i])
                    i += 1
            i += 1
            keep = len(out)
        elif ch == "\\":
            if i + 1 < n and text[i + 1] != "\n":
                out.append(text[i + 1])
                keep = len(out)
            i += 2
        else:
            out.append(ch)
            if ch not in " \t":
                keep = len(out)
            i += 1
    return "".join(out[:keep]), i + 1
