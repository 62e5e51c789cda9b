"""etcd v2's errors (its v2error package): codes, messages, HTTP statuses, one class each.

The one error vocabulary of the project: corral-store raises these for a request etcd
would refuse and renders them as `{"errorCode", "message", "cause", "index"}` with the
status below; the client raises the same classes from those bodies, so every caller
writes `except KeyNotFound:` whichever side of the wire it is on. Codes and messages
are etcd's, byte for byte, because clients match on them.

Standard library only and no logging: a generated copy ships in the Ansible
collection's module_utils next to the client's (scripts/sync_module_utils.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import ClassVar

# -- the table: names and codes as etcd's error.go, grouped as etcd groups them --------

# the request met the keys' state: 1xx ("command related")
KEY_NOT_FOUND = 100
TEST_FAILED = 101
NOT_FILE = 102
NO_MORE_PEER = 103
NOT_DIR = 104
NODE_EXIST = 105
KEY_IS_PRESERVED = 106
ROOT_READ_ONLY = 107
DIR_NOT_EMPTY = 108
EXISTING_PEER_ADDR = 109
UNAUTHORIZED = 110
# the request itself is malformed: 2xx ("post form related")
VALUE_REQUIRED = 200
PREV_VALUE_REQUIRED = 201
TTL_NAN = 202
INDEX_NAN = 203
VALUE_OR_TTL_REQUIRED = 204
TIMEOUT_NAN = 205
NAME_REQUIRED = 206
INDEX_OR_VALUE_REQUIRED = 207
INDEX_VALUE_MUTEX = 208
INVALID_FIELD = 209
INVALID_FORM = 210
REFRESH_VALUE = 211
REFRESH_TTL_REQUIRED = 212
# the cluster could not serve the request now: 3xx ("raft related")
RAFT_INTERNAL = 300
LEADER_ELECT = 301
# etcd's own state: 4xx ("etcd related"), of which 400 and 401 cut a watch off
WATCHER_CLEARED = 400
EVENT_INDEX_CLEARED = 401
STANDBY_INTERNAL = 402
INVALID_ACTIVE_SIZE = 403
INVALID_REMOVE_DELAY = 404
# 5xx ("client related")
CLIENT_INTERNAL = 500

MESSAGES: dict[int, str] = {
    KEY_NOT_FOUND: "Key not found",
    TEST_FAILED: "Compare failed",
    NOT_FILE: "Not a file",
    NO_MORE_PEER: "Reached the max number of peers in the cluster",
    NOT_DIR: "Not a directory",
    NODE_EXIST: "Key already exists",
    KEY_IS_PRESERVED: "The prefix of given key is a keyword in etcd",
    ROOT_READ_ONLY: "Root is read only",
    DIR_NOT_EMPTY: "Directory not empty",
    EXISTING_PEER_ADDR: "Peer address has existed",
    UNAUTHORIZED: "The request requires user authentication",
    VALUE_REQUIRED: "Value is Required in POST form",
    PREV_VALUE_REQUIRED: "PrevValue is Required in POST form",
    TTL_NAN: "The given TTL in POST form is not a number",
    INDEX_NAN: "The given index in POST form is not a number",
    VALUE_OR_TTL_REQUIRED: "Value or TTL is required in POST form",
    TIMEOUT_NAN: "The given timeout in POST form is not a number",
    NAME_REQUIRED: "Name is required in POST form",
    INDEX_OR_VALUE_REQUIRED: "Index or value is required",
    INDEX_VALUE_MUTEX: "Index and value cannot both be specified",
    INVALID_FIELD: "Invalid field",
    INVALID_FORM: "Invalid POST form",
    REFRESH_VALUE: "Value provided on refresh",
    REFRESH_TTL_REQUIRED: "A TTL must be provided on refresh",
    RAFT_INTERNAL: "Raft Internal Error",
    LEADER_ELECT: "During Leader Election",
    WATCHER_CLEARED: "watcher is cleared due to etcd recovery",
    EVENT_INDEX_CLEARED: "The event in requested index is outdated and cleared",
    STANDBY_INTERNAL: "Standby Internal Error",
    INVALID_ACTIVE_SIZE: "Invalid active size",
    INVALID_REMOVE_DELAY: "Standby remove delay",
    CLIENT_INTERNAL: "Client Internal Error",
}

# etcd answers every code not listed here with 400 Bad Request.
STATUS: dict[int, int] = {
    KEY_NOT_FOUND: 404,
    NOT_FILE: 403,
    DIR_NOT_EMPTY: 403,
    UNAUTHORIZED: 401,
    TEST_FAILED: 412,
    NODE_EXIST: 412,
    RAFT_INTERNAL: 500,
    LEADER_ELECT: 500,
}
DEFAULT_STATUS = 400


class StoreError(Exception):
    """Base class of every error a store client raises: the store refused the request
    (`EtcdError`) or could not be asked (the client's `StoreUnavailable`, ...)."""


class EtcdError(StoreError):
    """A request etcd refuses: its code, etcd's message, the cause (usually the key) and
    the store index at the time of refusal. `status` is the HTTP status it is answered
    with (the server's) or was answered with (the client's).

    Raise a subclass (`KeyNotFound(key, index)`); `from_code` and `from_body` build the
    one a code names. Catch a subclass or a family (`InvalidRequest`, `ClusterError`,
    `WatchCutOff`), never compare codes.
    """

    CODE: ClassVar[int | None] = None  # the code of a class that names one code

    def __init__(
        self,
        cause: str = "",
        index: int = 0,
        *,
        code: int | None = None,
        message: str | None = None,
        status: int | None = None,
    ) -> None:
        if code is None:
            code = self.CODE
        if code is None:
            raise TypeError(f"{type(self).__name__} covers several codes: give the code")
        self.code = code
        self.message = MESSAGES.get(code, "") if message is None else message
        self.cause = cause
        self.index = index
        self.status = STATUS.get(code, DEFAULT_STATUS) if status is None else status
        super().__init__(code, self.message, cause, index)

    def __str__(self) -> str:
        # etcdctl's format: "100: Key not found (/foo) [12]"
        cause = f" ({self.cause})" if self.cause else ""
        return f"{self.code}: {self.message}{cause} [{self.index}]"

    def __reduce__(self) -> tuple[object, ...]:
        return (EtcdError.from_code, (self.code, self.cause, self.index, self.message, self.status))

    def to_json(self) -> bytes:
        """The body the store answers with: etcd's fields, in etcd's order."""
        body: dict[str, object] = {"errorCode": self.code, "message": self.message}
        if self.cause:
            body["cause"] = self.cause
        body["index"] = self.index
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    @staticmethod
    def from_code(
        code: int,
        cause: str = "",
        index: int = 0,
        message: str | None = None,
        status: int | None = None,
    ) -> EtcdError:
        """The error of class `class_of(code)` for `code`."""
        return class_of(code)(cause, index, code=code, message=message, status=status)

    @staticmethod
    def from_body(body: Mapping[str, object], status: int | None = None) -> EtcdError:
        """The error an etcd v2 error body describes (`status`: the HTTP status it came
        with); ValueError when `body` is not one."""
        code, index = body.get("errorCode"), body.get("index") or 0
        if not isinstance(code, int) or not isinstance(index, int):
            raise ValueError(f"not an etcd error body: {dict(body)!r:.200}")
        message, cause = body.get("message"), body.get("cause")
        return EtcdError.from_code(
            code,
            "" if cause is None else str(cause),
            index,
            None if message is None else str(message),
            status,
        )


# -- 1xx: the request met the keys' state ------------------------------------------------


class CommandFailed(EtcdError):
    """The request was understood but the keys as they are refuse it (1xx)."""


class KeyNotFound(CommandFailed):
    """100: no key at that path (also: an expired one, a compare on a missing key)."""

    CODE = KEY_NOT_FOUND


class TestFailed(CommandFailed):
    """101: prevValue or prevIndex did not match: another writer came first."""

    __test__ = False  # a name pytest would otherwise collect
    CODE = TEST_FAILED


class NotFile(CommandFailed):
    """102: a value operation on a directory."""

    CODE = NOT_FILE


class NotDir(CommandFailed):
    """104: a path goes through a key as if it were a directory."""

    CODE = NOT_DIR


class NodeExist(CommandFailed):
    """105: prevExist=false (create, mkdir) on a path that exists."""

    CODE = NODE_EXIST


class RootReadOnly(CommandFailed):
    """107: a write to "/"."""

    CODE = ROOT_READ_ONLY


class DirNotEmpty(CommandFailed):
    """108: a non-recursive delete of a directory with children."""

    CODE = DIR_NOT_EMPTY


class Unauthorized(CommandFailed):
    """110: the credentials (or their absence) may not do this."""

    CODE = UNAUTHORIZED


# -- 2xx: the request itself is malformed ----------------------------------------------


class InvalidRequest(EtcdError):
    """A parameter is missing, not a number or not allowed here (2xx): the same request
    fails again."""


class ValueRequired(InvalidRequest):
    """200: a POST without a value."""

    CODE = VALUE_REQUIRED


class PrevValueRequired(InvalidRequest):
    """201: an empty prevValue."""

    CODE = PREV_VALUE_REQUIRED


class TTLNaN(InvalidRequest):
    """202: a ttl that is not a non-negative integer."""

    CODE = TTL_NAN


class IndexNaN(InvalidRequest):
    """203: a prevIndex or waitIndex that is not a non-negative integer."""

    CODE = INDEX_NAN


class InvalidField(InvalidRequest):
    """209: a parameter with a value that is not allowed (or a key past a limit)."""

    CODE = INVALID_FIELD


class InvalidForm(InvalidRequest):
    """210: a form that cannot be parsed."""

    CODE = INVALID_FORM


class RefreshValue(InvalidRequest):
    """211: refresh=true with a value."""

    CODE = REFRESH_VALUE


class RefreshTTLRequired(InvalidRequest):
    """212: refresh=true without a ttl."""

    CODE = REFRESH_TTL_REQUIRED


# -- 3xx: the cluster could not serve the request now ----------------------------------


class ClusterError(EtcdError):
    """The store could not serve the request now (3xx): not this request's fault; a
    later attempt may succeed."""


class RaftInternal(ClusterError):
    """300: the store failed (etcd unreachable, a write not durable, stopping)."""

    CODE = RAFT_INTERNAL


class LeaderElect(ClusterError):
    """301: the cluster is electing a leader."""

    CODE = LEADER_ELECT


# -- 400, 401: a watch is cut off -------------------------------------------------------


class WatchCutOff(EtcdError):
    """The events a watch asked for are gone: re-read, then watch from the new index."""


class WatcherCleared(WatchCutOff):
    """400: the store recovered and dropped its watchers."""

    CODE = WATCHER_CLEARED


class EventIndexCleared(WatchCutOff):
    """401: waitIndex is older than the history the store keeps."""

    CODE = EVENT_INDEX_CLEARED


# the classes that name one code each
CODED: tuple[type[EtcdError], ...] = (
    KeyNotFound, TestFailed, NotFile, NotDir, NodeExist, RootReadOnly, DirNotEmpty,
    Unauthorized, ValueRequired, PrevValueRequired, TTLNaN, IndexNaN, InvalidField,
    InvalidForm, RefreshValue, RefreshTTLRequired, RaftInternal, LeaderElect,
    WatcherCleared, EventIndexCleared,
)  # fmt: skip
_CLASSES: dict[int, type[EtcdError]] = {c.CODE: c for c in CODED if c.CODE is not None}
# codes etcd no longer raises (peers, standby, ...) still get their family's class
_FAMILIES: dict[int, type[EtcdError]] = {1: CommandFailed, 2: InvalidRequest, 3: ClusterError}


def class_of(code: int) -> type[EtcdError]:
    """The class raised for `code`: its own, else its family's, else EtcdError."""
    return _CLASSES.get(code) or _FAMILIES.get(code // 100, EtcdError)
