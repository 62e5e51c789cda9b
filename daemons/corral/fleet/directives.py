"""Which [Service] directives the `process` executor honours (pure, no I/O).

The process executor is no sandbox: a unit asking for one (ProtectSystem=,
DynamicUser=, CapabilityBoundingSet=...) or for anything else it does not implement
is refused before any of its commands runs, never run with more privilege or fewer
limits than its file asks for. Directives it knowingly ignores are only those whose
absence cannot widen what the unit may do. Everything outside [Service] is
systemd's business between units (After=, Wants=, [Install]) or fleet's ([X-Fleet]).
"""

from __future__ import annotations

from corral.fleet.unitfile import UnitFile

HONOURED = frozenset(
    {
        "Type", "RemainAfterExit",
        "ExecStartPre", "ExecStart", "ExecStartPost", "ExecStop",
        "Restart", "RestartSec", "TimeoutStopSec",
        "Environment", "EnvironmentFile", "WorkingDirectory",
        "User", "Group", "SupplementaryGroups", "UMask", "NoNewPrivileges",
    }
)  # fmt: skip
# ignoring these cannot give a unit more than it asked for
IGNORED = frozenset(
    {
        "TimeoutStartSec", "TimeoutSec",  # start is not timed: only waits longer
        "ExecReload",  # nothing here reloads a unit
        "StandardOutput", "StandardError", "SyslogIdentifier",  # output goes to its log
        "StartLimitInterval", "StartLimitIntervalSec", "StartLimitBurst",
    }
)  # fmt: skip
TYPES = ("simple", "exec", "oneshot")  # the supervisor knows no other readiness


def refused(unit: UnitFile) -> list[str]:
    """What in [Service] this executor cannot honour, as messages; [] when it can."""
    out = []
    unknown = sorted({k for k in unit.keys("Service") if k not in HONOURED | IGNORED})
    if unknown:
        out.append(
            f"{', '.join(k + '=' for k in unknown)} not supported by the process "
            "executor (no sandboxing, resource control or capabilities; use the systemd "
            "executor)"
        )
    kind = unit.last("Service", "Type", "simple") or "simple"
    if kind not in TYPES:
        out.append(f"Type={kind} not supported by the process executor ({', '.join(TYPES)})")
    return out
