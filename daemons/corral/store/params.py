"""Parsing a keys request as etcd's v2http does (parseKeyRequest).

Parameters come from the query string and, for PUT and POST with a form content type,
from the body (body values first, as Go's ParseForm orders them). Every malformed
input becomes the EtcdError etcd answers (invalid form 210, TTL 202, index 203,
field 209, ...), checked in etcd's order so the first complaint matches.
"""

from __future__ import annotations

import re

from corral.etcd_errors import (
    EtcdError,
    IndexNaN,
    InvalidField,
    InvalidForm,
    PrevValueRequired,
    RefreshTTLRequired,
    RefreshValue,
    TTLNaN,
)
from corral.store.keys_request import KeysRequest
from corral.store.limits import FORM_PARAMS

Form = dict[str, list[str]]

MAX_UINT64 = (1 << 64) - 1
# Beyond this a TTL would overflow Go's time arithmetic; we refuse it instead.
MAX_TTL = 1 << 32
_DIGITS = re.compile(r"[0-9]+")
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def unescape(raw: bytes, plus: bool = True, text: str = "replace") -> str:
    """Go's QueryUnescape (or PathUnescape with plus=False); raises ValueError.
    Bytes that are not UTF-8 become U+FFFD, as etcd's JSON shows them, or with
    text="strict" raise UnicodeDecodeError (a ValueError)."""
    if b"%" not in raw and (not plus or b"+" not in raw):
        return raw.decode("utf-8", text)  # nothing to unescape: most keys and values
    bad = _BAD_ESCAPE.search(raw)
    if bad is not None:
        shown = raw[bad.start() : bad.start() + 3].decode("utf-8", "replace")
        raise ValueError(f'invalid URL escape "{shown}"')
    if plus:
        raw = raw.replace(b"+", b" ")
    return _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw).decode("utf-8", text)


def parse_query(raw: bytes, form: Form, max_params: int = FORM_PARAMS) -> None:
    """Add the pairs of a urlencoded string to `form`, as Go's url.ParseQuery (which
    refuses more than 10,000 pairs since Go 1.24.12)."""
    if raw.count(b"&") >= max_params:
        raise ValueError(f"more than {max_params} parameters")
    for part in raw.split(b"&"):
        if not part:
            continue
        if b";" in part:
            raise ValueError("invalid semicolon separator in query")
        key, _, value = part.partition(b"=")
        form.setdefault(unescape(key), []).append(unescape(value))


def build_form(
    method: str, query: bytes, content_type: str, body: bytes, too_large: bool = False,
    max_params: int = FORM_PARAMS,
) -> Form:  # fmt: skip
    """The request's parameters; `too_large`: its body went past the limit and was cut
    short (refused whatever its content type: the request never arrived whole)."""
    form: Form = {}
    try:
        if too_large:
            raise ValueError("http: POST too large")
        if method in ("PUT", "POST", "PATCH"):
            media = content_type.split(";", 1)[0].strip().lower()
            if media == "application/x-www-form-urlencoded":
                parse_query(body, form, max_params)
        parse_query(query, form, max_params)
    except ValueError as exc:
        raise InvalidForm(str(exc)) from None
    return form


def _uint(form: Form, key: str, error: type[EtcdError], cause: str) -> int:
    values = form.get(key)
    if not values:
        return 0
    v = values[0]
    if not _DIGITS.fullmatch(v) or int(v) > MAX_UINT64:
        raise error(cause)
    return int(v)


def _bool(form: Form, key: str, cause: str | None = None) -> bool:
    values = form.get(key)
    if not values:
        return False
    v = values[0]
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise InvalidField(cause or f'invalid value for "{key}"')


def _first(form: Form, key: str) -> str:
    values = form.get(key)
    return values[0] if values else ""


def parse_keys_request(method: str, key: str, form: Form) -> tuple[KeysRequest, bool]:
    """The request and etcd's `noValueOnSuccess` flag; raises EtcdError."""
    if form.keys() <= {"value"}:  # a plain GET or set: nothing else to check (a tenth of
        # a GET's time went to the checks below)
        return KeysRequest(method=method, path=key, value=_first(form, "value")), False
    prev_index = _uint(form, "prevIndex", IndexNaN, 'invalid value for "prevIndex"')
    wait_index = _uint(form, "waitIndex", IndexNaN, 'invalid value for "waitIndex"')
    recursive = _bool(form, "recursive")
    sort = _bool(form, "sorted")
    wait = _bool(form, "wait")
    is_dir = _bool(form, "dir")
    quorum = _bool(form, "quorum")
    stream = _bool(form, "stream")
    if wait and method != "GET":
        raise InvalidField('"wait" can only be used with GET requests')
    prev_value = _first(form, "prevValue")
    if "prevValue" in form and prev_value == "":
        raise PrevValueRequired('"prevValue" cannot be empty')
    no_value = _bool(form, "noValueOnSuccess")
    ttl: int | None = None
    if _first(form, "ttl"):
        ttl = _uint(form, "ttl", TTLNaN, 'invalid value for "ttl"')
        if ttl > MAX_TTL:
            raise TTLNaN('invalid value for "ttl"')
    prev_exist: bool | None = None
    if "prevExist" in form:
        prev_exist = _bool(form, "prevExist", "invalid value for prevExist")
    refresh = False
    if "refresh" in form:
        refresh = _bool(form, "refresh", "invalid value for refresh")
        if refresh:
            if _first(form, "value"):
                raise RefreshValue("A value was provided on a refresh")
            if ttl is None:
                raise RefreshTTLRequired("No TTL value set")
    request = KeysRequest(
        method=method,
        path=key,
        value=_first(form, "value"),
        dir=is_dir,
        prev_value=prev_value,
        prev_index=prev_index,
        prev_exist=prev_exist,
        wait=wait,
        wait_index=wait_index,
        recursive=recursive,
        sorted=sort,
        quorum=quorum,
        stream=stream,
        ttl=ttl,
        refresh=refresh,
    )
    return request, no_value
