"""Fixtures: one etcd member, or a 3-member etcd cluster on 127.0.0.1 with corral-store
gateways over it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from corral.store.etcdv3.testing import ETCD_OPTIONS, gateway
from corral.testing import EtcdServer, StoreServer, etcd_cluster, free_port


@dataclass
class Site:
    members: list[EtcdServer]
    gateways: list[StoreServer] = field(default_factory=list)

    def add_gateway(self, workdir: Path) -> StoreServer:
        """A gateway on a fixed port, so a restarted one keeps its URL."""
        g = gateway(workdir, self.members, listen=f"http://127.0.0.1:{free_port()}")
        self.gateways.append(g.start())
        return g

    def stop(self) -> None:
        for g in self.gateways:
            g.stop()
        for m in self.members:
            m.stop()


def member_status(member: EtcdServer) -> dict[str, str]:
    req = urllib.request.Request(member.url + "/v3/maintenance/status", data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        status = json.load(resp)
    return {"member": status["header"]["member_id"], "leader": status["leader"]}


def leader(members: list[EtcdServer]) -> EtcdServer:
    ids = {m.name: member_status(m) for m in members if m.alive()}
    (leader_id,) = {s["leader"] for s in ids.values()}
    return next(m for m in members if m.alive() and ids[m.name]["member"] == leader_id)


@pytest.fixture
def member(tmp_path: Path) -> Iterator[EtcdServer]:
    """One etcd member with the options gateways need; continued before it is stopped,
    in case the test left it paused (SIGSTOP)."""
    m = EtcdServer(tmp_path / "etcd", extra_args=ETCD_OPTIONS).start()
    try:
        yield m
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(m.pid, signal.SIGCONT)
        m.stop()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    if shutil.which("etcd") is None:
        pytest.fail("etcd not installed: run `make test`, which installs etcd-server")
    members = etcd_cluster(tmp_path, 3, extra_args=ETCD_OPTIONS)
    s = Site(members)
    try:
        s.add_gateway(tmp_path / "gw-a")
        s.add_gateway(tmp_path / "gw-b")
        yield s
    finally:
        s.stop()
