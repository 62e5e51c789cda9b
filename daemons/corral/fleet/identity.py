"""The user and groups a unit's commands run as: User=, Group=, SupplementaryGroups=.

As systemd: User= (a name or uid) gives the uid, its primary group unless Group= is
set, and its groups from /etc/group; SupplementaryGroups= adds to those (an empty
assignment resets the list); $HOME, $USER, $LOGNAME and $SHELL come from the user's
entry. A unit without User= runs as the supervisor runs. A supervisor that is not
root can only run units as itself: any other user or group is refused, not ignored.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
from dataclasses import dataclass

from corral.fleet.unitfile import UnitFile


class IdentityError(ValueError):
    """A user or group that does not exist or cannot be taken."""


@dataclass(frozen=True)
class Identity:
    """Whom to become; None fields: leave as the supervisor is."""

    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] | None = None
    env: tuple[tuple[str, str], ...] = ()  # HOME, USER, LOGNAME, SHELL
    home: str = ""


def resolve(unit: UnitFile) -> Identity:
    user = unit.last("Service", "User")
    group = unit.last("Service", "Group")
    extra = [g for v in unit.values("Service", "SupplementaryGroups") for g in shlex.split(v)]
    if not (user or group or extra):
        return Identity()
    uid: int | None = None
    gid: int | None = None
    groups: list[int] = [_gid(g, "SupplementaryGroups") for g in extra]
    env: tuple[tuple[str, str], ...] = ()
    home = ""
    if user:
        entry = _passwd(user)
        uid, gid, home = entry.pw_uid, entry.pw_gid, entry.pw_dir
        groups = os.getgrouplist(entry.pw_name, entry.pw_gid) + groups
        env = (
            ("HOME", entry.pw_dir),
            ("USER", entry.pw_name),
            ("LOGNAME", entry.pw_name),
            ("SHELL", entry.pw_shell or "/bin/sh"),
        )
    if group:
        gid = _gid(group, "Group")
    wanted = Identity(uid, gid, tuple(dict.fromkeys(groups)), env, home)
    _check_allowed(wanted, user, group)
    if os.geteuid() != 0:
        return Identity(env=env, home=home)  # what it asked for is what it is already
    return wanted


def _passwd(user: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, OverflowError) as exc:
        raise IdentityError(f"User={user}: no such user") from exc


def _gid(group: str, key: str) -> int:
    try:
        return grp.getgrgid(int(group)).gr_gid if group.isdigit() else grp.getgrnam(group).gr_gid
    except (KeyError, OverflowError) as exc:
        raise IdentityError(f"{key}={group}: no such group") from exc


def _check_allowed(wanted: Identity, user: str | None, group: str | None) -> None:
    if os.geteuid() == 0:
        return
    if wanted.uid is not None and wanted.uid != os.geteuid():
        raise IdentityError(
            f"User={user}: the process executor runs as uid {os.geteuid()}, not root, "
            "and cannot run units as another user"
        )
    mine = {os.getegid(), *os.getgroups()}
    if wanted.gid is not None and wanted.gid != os.getegid():
        raise IdentityError(
            f"Group={group}: the process executor runs as gid {os.getegid()}, not root, "
            "and cannot run units as another group"
        )
    if wanted.groups is not None and not set(wanted.groups) <= mine:
        raise IdentityError(
            "SupplementaryGroups=: the process executor is not root and cannot add groups"
        )
