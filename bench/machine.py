"""The machine a run measured on: CPU model, cores, memory, kernel (Linux /proc)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("model name", "Hardware", "cpu model"):
            return value.strip()
    return platform.processor() or platform.machine()


def _mem_total_mib(meminfo: str) -> int | None:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def describe() -> dict[str, object]:
    return {
        "cpu_model": _cpu_model(_read("/proc/cpuinfo")),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_mib": _mem_total_mib(_read("/proc/meminfo")),
        "kernel": platform.release(),
        "arch": platform.machine(),
    }
