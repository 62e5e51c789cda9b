"""systemd's service notification protocol (sd_notify(3)), without libsystemd.

A daemon started by a `Type=notify` unit says `READY=1` once it serves, `WATCHDOG=1`
at least every half of `WatchdogSec=` while it is healthy (systemd restarts it when the
pings stop), and `STOPPING=1` when it begins to shut down. Outside systemd
(`NOTIFY_SOCKET` unset) every call does nothing, so daemons call it unconditionally.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """Datagrams to `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace)."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = env.get("NOTIFY_SOCKET", "")
        if self.address.startswith("@"):
            self.address = "\0" + self.address[1:]
        self.watchdog_seconds = _watchdog_seconds(env)

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *assignments: str) -> bool:
        """Sends `KEY=VALUE` lines; False (never an exception) when nobody listens."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.sendto("\n".join(assignments).encode(), self.address)
        except OSError:
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def ping_interval(self) -> float | None:
        """How often to send WATCHDOG=1 (half the unit's WatchdogSec=), or None."""
        return self.watchdog_seconds / 2 if self.watchdog_seconds else None


def _watchdog_seconds(env: dict[str, str] | os._Environ[str]) -> float | None:
    """WatchdogSec= of this process's unit, if the watchdog is meant for this process."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000
