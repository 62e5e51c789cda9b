"""Resident memory of a server and its children, read from /proc (Linux only)."""

from __future__ import annotations

from pathlib import Path


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (a store that forks workers is counted whole)."""
    found = [pid]
    for p in found:
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                found.extend(int(c) for c in (task / "children").read_text().split())
            except FileNotFoundError:
                continue
    return found


def rss_bytes(pid: int) -> int:
    """Current resident set (VmRSS) of the process tree rooted at `pid`."""
    return sum(_status_kib(p, "VmRSS") for p in descendants(pid)) * 1024


def peak_rss_bytes(pid: int) -> int:
    """Peak resident set (VmHWM) of the process tree rooted at `pid`."""
    return sum(_status_kib(p, "VmHWM") for p in descendants(pid)) * 1024


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by the process tree rooted at `pid`, to the nanosecond
    (schedstat of every live thread: clock ticks are too coarse for a short window)."""
    ns = 0
    for p in descendants(pid):
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                ns += int((task / "schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                continue
    return ns / 1e9
