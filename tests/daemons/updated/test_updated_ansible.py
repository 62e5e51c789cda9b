"""The `external` strategy driven from Ansible: a play asks a staged machine to reboot
by writing its request key with the collection's `corral.cloud.kv` module (real
ansible-playbook), and the machine's daemon reboots into the staged release; and the
`corral.cloud.update` module's documented one-at-a-time pattern (`reboot`, `wait`,
`throttle: 1`) waits for each machine to be back before it asks the next."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from updated_harness import Machine, status

from corral.client import Client, EtcdError
from corral.updated import records as r
from corral.updated.health import HealthChecks

REPO = Path(__file__).resolve().parents[3]

PLAY = """\
- name: Reboot the staged machine now
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Ask corral-updated on m1 to reboot
      corral.cloud.kv:
        endpoint: "{endpoint}"
        key: /_corral/update/requests/m1/reboot
        value: requested
"""


def test_an_ansible_play_reboots_a_machine_on_the_external_strategy(store, upstream, signers,
                                                                     tmp_path: Path):  # fmt: skip
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="external")
    m.updater.after_boot()
    upstream.publish("1.1.0", b"system 1.1.0\n")
    for _ in range(3):
        m.updater.step()
    assert m.reboots() == 0 and status(store.url, "m1").status == r.NEED_REBOOT
    playbook = tmp_path / "reboot.yml"
    playbook.write_text(PLAY.format(endpoint=store.url))
    done = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)],
                          env=_env(tmp_path), capture_output=True, text=True,
                          timeout=180)  # fmt: skip
    assert done.returncode == 0 and "changed=1" in done.stdout, done.stdout + done.stderr
    m.updater.step()
    assert m.reboots() == 1
    assert m.boot() == "b" and status(store.url, "m1").version == "1.1.0"


ROLL = """\
- name: Reboot staged machines one at a time
  hosts: m1,m2
  gather_facts: false
  tasks:
    - name: Reboot and wait, one machine at a time (the update module's example)
      corral.cloud.update:
        endpoint: "{endpoint}"
        machine: "{{{{ inventory_hostname }}}}"
        reboot: true
        wait: true
        wait_timeout: 60
      delegate_to: localhost
      throttle: 1
"""


def _env(tmp_path: Path) -> dict[str, str]:
    collections = tmp_path / "collections" / "ansible_collections" / "corral"
    collections.mkdir(parents=True)
    (collections / "cloud").symlink_to(REPO)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CORRAL_"))}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"),
               ANSIBLE_CONFIG=str(tmp_path / "none.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
               ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")  # fmt: skip
    return env


def _reboot_on_request(machines: list[Machine], store_url: str, order: list[str],
                       stop: threading.Event) -> None:  # fmt: skip
    """Each machine's daemon: act on a reboot request, then boot a little later, as a
    real machine takes a while to come back."""
    with Client(store_url) as client:
        while not stop.is_set():
            for m in machines:
                if m.reboots() == 0 and _requested(client, m.machine_id):
                    order.append(f"request {m.machine_id}")
                    m.updater.step()  # consumes the request, runs the reboot command
                    time.sleep(1.5)
                    m.boot()
                    order.append(f"back {m.machine_id}")
            time.sleep(0.1)


def _requested(client: Client, machine_id: str) -> bool:
    try:
        client.get(f"{r.REQUESTS}/{machine_id}/reboot")
    except EtcdError:
        return False
    return True


def _roll(tmp_path: Path, machines: list[Machine], store_url: str,
          playbook_text: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Runs the play against local hosts named after the machines while a thread reboots
    each machine the store asks to: the play's result and the requests and returns seen."""
    playbook = tmp_path / "roll.yml"
    playbook.write_text(playbook_text)
    inventory = tmp_path / "hosts"
    inventory.write_text("".join(f"{m.machine_id} ansible_connection=local\n" for m in machines))
    order: list[str] = []
    stop = threading.Event()
    daemons = threading.Thread(target=_reboot_on_request,
                               args=(machines, store_url, order, stop))  # fmt: skip
    daemons.start()
    try:
        done = subprocess.run(["ansible-playbook", "-i", str(inventory), str(playbook)],
                              env=_env(tmp_path), capture_output=True, text=True,
                              timeout=180)  # fmt: skip
    finally:
        stop.set()
        daemons.join()
    return done, order


def test_reboot_wait_and_throttle_1_reboot_one_machine_at_a_time(store, upstream, signers,
                                                                  tmp_path):  # fmt: skip
    url = upstream.serve()
    machines = [Machine(tmp_path, mid, store.url, url, signers, strategy="external")
                for mid in ("m1", "m2")]  # fmt: skip
    for m in machines:
        m.updater.after_boot()
    upstream.publish("1.1.0", b"system 1.1.0\n")
    for m in machines:
        for _ in range(3):
            m.updater.step()
        assert status(store.url, m.machine_id).status == r.NEED_REBOOT
    done, order = _roll(tmp_path, machines, store.url, ROLL.format(endpoint=store.url))
    assert done.returncode == 0, done.stdout + done.stderr
    # the second request came only once the first machine was back
    assert order == ["request m1", "back m1", "request m2", "back m2"], order
    for m in machines:
        assert status(store.url, m.machine_id).version == "1.1.0"


def test_wait_fails_when_the_machine_rolls_back(store, upstream, signers, tmp_path):
    url = upstream.serve()
    m = Machine(tmp_path, "m1", store.url, url, signers, strategy="external",
                health=HealthChecks(commands=("false",), timeout=0.2, interval=0.1))  # fmt: skip
    m.updater.after_boot()
    upstream.publish("1.1.0", b"system 1.1.0\n")
    for _ in range(3):
        m.updater.step()
    play = ROLL.format(endpoint=store.url).replace("m1,m2", "m1")
    done, _ = _roll(tmp_path, [m], store.url, play)
    assert done.returncode != 0
    assert "machine m1 did not keep 1.1.0: its health gate failed" in done.stdout, done.stdout
