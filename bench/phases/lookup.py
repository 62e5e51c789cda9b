"""Lookup render: a template of many `lookup('corral.cloud.kv', ...)` against corral-store
vs the same template with community.general's `etcd` lookup (v2 API) against etcd 3.4.

Both servers hold the same keys (`/bench/lookup/k<i>`, 64-byte values). Each render
runs in a fresh child process (`python -m bench.phases.lookup --render`, the template
as JSON on stdin) that loads
the plugins through Ansible's own loader, as ansible-playbook does, and times only
`Templar.template` on the whole text: interpreter and Ansible start-up are left out.
Renders alternate ours, etcd, etcd, ours, and the figure is each side's mean of its
two renders (the median of two); a smoke run renders once per side. A render whose
output is not exactly the stored values fails the phase: the etcd lookup returns None
or "ENOENT" instead of failing, and a quick wrong answer must not count as a fast one.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.context import SMOKE, Bench
from bench.report import Row
from bench.servers import Side
from bench.targets import target
from corral.client import Client

REPO = Path(__file__).resolve().parents[2]
PREFIX = "bench/lookup/k"
FULL_LOOKUPS = 1000
SMOKE_LOOKUPS = 5


def _value(i: int) -> str:
    return f"value-{i:06d}-" + "x" * 50


def template_text(kind: str, url: str, count: int) -> str:
    """One line per key: `k<i>={{ lookup(...) }}`."""
    if kind == "ours":
        call = "lookup('corral.cloud.kv', '/{key}', endpoint='{url}')"
    else:
        call = "lookup('community.general.etcd', '{key}', url='{url}', version='v2')"
    lines = []
    for i in range(count):
        expr = call.format(key=f"{PREFIX}{i}", url=url)
        lines.append(f"k{i}={{{{ {expr} }}}}")
    return "\n".join(lines) + "\n"


def expected_text(count: int) -> str:
    return "".join(f"k{i}={_value(i)}\n" for i in range(count))


def _render(spec: dict[str, Any]) -> dict[str, Any]:
    """In the child: load the collection, render the template once, time it."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar, trust_as_template

    with tempfile.TemporaryDirectory(prefix="corral-bench-collections-") as tmp:
        link = Path(tmp) / "ansible_collections" / "corral" / "cloud"
        link.parent.mkdir(parents=True)
        link.symlink_to(REPO)
        init_plugin_loader([tmp])
        templar = Templar(loader=DataLoader(), variables={})
        text = trust_as_template(spec["template"])
        started = time.perf_counter()
        rendered = templar.template(text)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rendered": str(rendered)}


def render_once(kind: str, side: Side, count: int, timeout: float = 1800.0) -> float:
    """One render in a child process; a child that does not finish in `timeout` seconds
    is killed and fails the phase."""
    spec = {"template": template_text(kind, side.url, count)}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.phases.lookup", "--render"],
        input=json.dumps(spec),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"rendering with the {kind} lookup failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout)
    if result["rendered"].rstrip("\n") != expected_text(count).rstrip("\n"):
        got = result["rendered"][:200]
        raise RuntimeError(f"the {kind} lookup rendered wrong values, e.g. {got!r}")
    return float(result["seconds"])


def _seed(side: Side, count: int) -> None:
    with Client(side.url, timeout=10.0) as client:
        for i in range(count):
            client.set(f"/{PREFIX}{i}", _value(i))


def render(bench: Bench) -> list[Row]:
    smoke = bench.scale == SMOKE
    count = SMOKE_LOOKUPS if smoke else FULL_LOOKUPS
    times: dict[str, list[float]] = {"ours": [], "reference": []}
    with bench.pair("lookup") as (ours_side, ref_side):
        _seed(ours_side, count)
        _seed(ref_side, count)
        # a smoke run only proves both renders still work: one each, not the ABBA order
        order = (ours_side, ref_side) if smoke else (ours_side, ref_side, ref_side, ours_side)
        for side in order:
            kind = "ours" if side is ours_side else "etcd"
            times[side.label].append(render_once(kind, side, count, 120.0 if smoke else 1800.0))
    ours, ref = statistics.median(times["ours"]), statistics.median(times["reference"])
    return [
        Row(
            phase="lookup",
            figure=f"template with {count} lookups, render time",
            unit="s",
            ours=ours,
            reference=ref,
            target=target("lookup"),
            note="corral.cloud.kv vs community.general.etcd (v2), median render",
            detail={"renders_s": times, "lookups": count},
        )
    ]


def main(argv: list[str]) -> int:
    """`--render`: one render (the child). Otherwise run the phase alone and print its
    row: `python -m bench.phases.lookup [--smoke]`."""
    if argv[:1] == ["--render"]:
        print(json.dumps(_render(json.load(sys.stdin))))
        return 0
    from bench.context import FULL

    with tempfile.TemporaryDirectory(prefix="corral-bench-lookup-") as work:
        (row,) = render(Bench(SMOKE if "--smoke" in argv else FULL, Path(work), "store"))
    ratio = row.ours / row.reference if row.ours and row.reference else None
    print(json.dumps({"figure": row.figure, "ours_s": row.ours, "etcd_s": row.reference,
                      "ratio": ratio, "target": "<= 1.0", "detail": row.detail}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
