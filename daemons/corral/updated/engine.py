"""The update engine: check, download, verify, stage, reboot, and the health gate after.

`Updater.after_boot()` runs once at start (it is what happens after a reboot);
`Updater.step()` is one pass of the main loop. Both take time from an injected clock,
so maintenance windows and check intervals are tested without waiting.

Invariants:
- Nothing is written to a slot unless the mirror client verified the release and its
  payload (`corral.trust` decides); any rejection becomes REPORTING_ERROR_EVENT with
  the rejection's kind and message, and never leads to a reboot.
- The passive slot is invalidated before it is written and staged (one try) only
  after its payload is complete and fsynced.
- The lock and the drain are released only after the new slot passed the health gate
  (or the machine is back on its previous, good slot).
- A release that failed its health gate anywhere has that machine's `failed` report (or
  an earlier layout's `bad/` mark); it is neither installed nor rebooted into while one is
  there. Each machine writes only its own reports (`verdicts`).
- The channel, strategy and windows in use are the flags overridden by the store's
  `config/` records (`settings`), read at the start of every step; a record that does
  not parse changes nothing and is reported in the status's `config_error`.
"""

from __future__ import annotations

import contextlib
import logging
import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from corral.client import KEY_NOT_FOUND, Client, EtcdError, StoreError
from corral.mirror.client import MirrorClient
from corral.mirror.progress import Progress
from corral.trust import PayloadCheck, Release, TrustError, Version
from corral.updated import records as r
from corral.updated.drain import set_drained, units_here
from corral.updated.health import HealthChecks, run_health_gate
from corral.updated.local_state import LocalState, Staged
from corral.updated.policy import wait_reason
from corral.updated.reboot_lock import LockContended, RebootLock
from corral.updated.reports import (
    candidates,
    named_canaries,
    read_reports,
    write_report,
)
from corral.updated.semaphore import SemaphoreError
from corral.updated.settings import Settings, SettingsError, effective, parse_settings
from corral.updated.slots import (
    SlotBackend,
    SlotError,
    invalidate,
    mark_bad,
    mark_good,
    stage,
)
from corral.updated.verdicts import canary, failures, proven_by
from corral.updated.windows import MaintenanceWindow

log = logging.getLogger("corral.updated")


@dataclass
class UpdaterConfig:
    machine_id: str
    state_dir: Path
    strategy: str = "reboot"
    reboot_command: str = "systemctl reboot"
    interval: float = 3600.0  # seconds between checks
    jitter: float = 0.1  # fraction of the interval, either way
    windows: list[MaintenanceWindow] = field(default_factory=list)
    lock_group: str | None = None
    health: HealthChecks = field(default_factory=HealthChecks)
    drain: bool = True
    canary: bool = True  # one machine proves a release before the others install it
    drain_timeout: float = 300.0
    tick: float = 1.0


def _now_text(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Published(Progress):
    """Download progress into the machine's status: each tenth of the way, and at most
    twice a second in between, so the store sees a bounded number of writes."""

    def __init__(self, updater: Updater, total: int) -> None:
        super().__init__("download", total)
        self.updater = updater
        self.last = 0.0
        self.tenth = -1

    def advance(self, count: int) -> None:
        super().advance(count)
        fraction = self.done / self.total if self.total else 1.0
        now = time.monotonic()
        if now - self.last >= 0.5 or int(fraction * 10) > self.tenth:
            self.last, self.tenth = now, int(fraction * 10)
            self.updater.publish(progress=round(fraction, 4))


class Updater:
    def __init__(
        self,
        config: UpdaterConfig,
        client: Client,
        slots: SlotBackend,
        mirror: MirrorClient,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.client = client
        self.slots = slots
        self.mirror = mirror
        self.clock = clock
        self.rand = rand
        self.me = config.machine_id
        self.state_file = config.state_dir / "updated.json"
        self.downloads = config.state_dir / "downloads"
        self.local = LocalState.load(self.state_file)
        self.lock = RebootLock(client, config.lock_group)
        self.defaults = Settings(mirror.config.channel, config.strategy,
                                 tuple(w.text for w in config.windows))  # fmt: skip
        self.settings = self.defaults  # in use now
        self._default_windows = list(config.windows)
        self._records: dict[str, str | None] = {}  # config records as last read
        self.status = r.MachineStatus(self.me, strategy=config.strategy,
                                      channel=self.defaults.channel or "",
                                      windows=list(self.defaults.windows or ()),
                                      defaults=self.defaults.as_dict())  # fmt: skip
        self.next_check = 0.0  # monotonic; 0 = at once
        self.rebooting = False
        self._stop: Callable[[float], bool] = lambda timeout: (time.sleep(timeout), False)[1]

    # -- store records ----------------------------------------------------------------

    def publish(self, **changes: object) -> None:
        self.status = replace(self.status, **changes, updated=_now_text(self.clock()))
        try:
            self.client.set(f"{r.MACHINES}/{self.me}", r.encode(self.status))
        except StoreError as exc:
            log.warning("status not published: %s", exc)

    def history(self, event: str, version: str = "", detail: str = "") -> None:
        entry = r.HistoryEntry(_now_text(self.clock()), event, version, detail)
        log.info("%s %s %s", event, version, detail)
        try:
            self.client.append(f"{r.HISTORY}/{self.me}", r.encode(entry))
        except StoreError as exc:
            log.warning("history not recorded: %s", exc)

    def _exists(self, key: str) -> str | None:
        try:
            return self.client.get(key).node.value or ""
        except EtcdError as exc:
            if exc.error_code == KEY_NOT_FOUND:
                return None
            raise

    def bad_reason(self, release_id: str) -> str | None:
        failed = failures(read_reports(self.client), release_id)
        if failed:
            return f"failed its health check on {failed[0].machine}: {failed[0].reason}"
        text = self._exists(f"{r.BAD}/{release_id}")  # the earlier layout's mark
        if text is None:
            return None
        with contextlib.suppress(r.RecordError):
            bad = r.decode(r.BadRelease, text)
            return f"failed its health check on {bad.machine}: {bad.reason}"
        return "marked bad"

    def _report(self, release_id: str, version: str, verdict: str, reason: str = "") -> None:
        write_report(self.client, r.Verdict(release_id, version, self.me, verdict, reason,
                                            _now_text(self.clock())))  # fmt: skip

    def held(self) -> bool:
        return any(self._exists(f"{r.HOLDS}/{k}") is not None for k in (self.me, r.HOLD_ALL))

    def _take_request(self, kind: str) -> bool:
        try:
            self.client.delete(f"{r.REQUESTS}/{self.me}/{kind}")
            return True
        except EtcdError as exc:
            if exc.error_code == KEY_NOT_FOUND:
                return False
            raise

    def _save(self) -> None:
        self.local.save(self.state_file)

    # -- settings from the store ----------------------------------------------------------

    def apply_settings(self) -> None:
        """Read `config/all` and `config/<me>`; apply what changed, or report a bad record
        and keep the settings in use."""
        records = {name: self._exists(f"{r.CONFIG}/{name}") for name in (r.HOLD_ALL, self.me)}
        if records == self._records:
            return
        self._records = records
        layers = []
        for name, text in records.items():
            try:
                layers.append(parse_settings(text) if text is not None else Settings())
            except SettingsError as exc:
                error = f"{r.CONFIG}/{name}: {exc}"
                log.error("settings refused, still using %s: %s", self._describe(), error)
                self.history("config-error", "", error)
                self.publish(config_error=error)
                return
        wanted = effective(self.defaults, layers[0], layers[1])
        windows = (self._default_windows if wanted.windows == self.defaults.windows
                   else [MaintenanceWindow.parse(w) for w in wanted.windows or ()])  # fmt: skip
        changes = [f"{f} {getattr(self.settings, f)!r} -> {getattr(wanted, f)!r}"
                   for f in ("channel", "strategy", "windows")
                   if getattr(self.settings, f) != getattr(wanted, f)]  # fmt: skip
        if wanted.channel != self.settings.channel:
            self.mirror.config = replace(self.mirror.config, channel=wanted.channel)
            self.next_check = 0.0  # the new channel is checked at once
        self.config.strategy = wanted.strategy or self.config.strategy
        self.config.windows = windows
        self.settings = wanted
        if changes:
            log.info("settings applied: %s", "; ".join(changes))
            self.history("settings", "", "; ".join(changes))
        shown = {"strategy": self.config.strategy, "channel": wanted.channel or "",
                 "windows": list(wanted.windows or ()), "config_error": ""}
        if any(getattr(self.status, k) != v for k, v in shown.items()):
            self.publish(**shown)

    def _describe(self) -> str:
        s = self.settings
        return (f"channel {s.channel}, strategy {s.strategy},"
                f" windows {list(s.windows or ()) or 'any time'}")  # fmt: skip

    # -- after boot: the health gate ----------------------------------------------------

    def after_boot(self) -> None:
        state = self.slots.load()
        booted = state.booted
        current = state.slot(booted)
        target = self.local.rebooting_to
        # One record: a watcher must not see IDLE on a slot still on trial.
        trial = current.on_trial
        self.publish(version=current.version, slot=booted, rollback=self.local.rollback,
                     status=r.VERIFYING if trial else r.IDLE, error="",
                     note=f"health gate for {current.version}" if trial else "")  # fmt: skip
        if trial:
            checks = replace(self.config.health, env={
                **self.config.health.env, "CORRAL_SLOT": booted,
                "CORRAL_SLOT_PATH": self.slots.location(booted),
                "CORRAL_VERSION": current.version,
            })  # fmt: skip
            why = run_health_gate(checks)
            state = self.slots.load()  # unchanged by the checks, but be exact
            if why is None:
                self.slots.save(mark_good(state, booted))
                self.local.rebooting_to = None
                self.local.rollback = ""
                self._save()
                self.history("good", current.version, f"slot {booted} passed the health gate")
                if target is not None and target.slot == booted:
                    self._report(target.release_id, current.version, r.PROVEN)
                self.publish(status=r.IDLE, note="", rollback="")
                self._finish_reboot()
                return
            self.slots.save(mark_bad(state, booted))
            release_id = target.release_id if target and target.slot == booted else ""
            self._rollback(current.version, release_id, why, reboot=True)
            return
        if target is not None and target.slot != booted:
            # the boot loader fell back: the new slot spent its try without being marked
            # good (it crashed or hung before the gate), or we rolled back ourselves
            if not self.local.rollback:
                self._rollback(target.version, target.release_id,
                               f"slot {target.slot} did not boot to a healthy system",
                               reboot=False)  # fmt: skip
            self.local.rebooting_to = None
            self._save()
            self.history("back", current.version, f"running slot {booted} again")
        self.publish(status=r.IDLE, note="", rollback=self.local.rollback)
        self._finish_reboot()

    def _rollback(self, version: str, release_id: str, why: str, reboot: bool) -> None:
        text = f"{version} rolled back: {why}"
        self.local.rollback = text
        self._save()
        if release_id:
            self._report(release_id, version, r.FAILED, why)
        self.history("rollback", version, why)
        self.publish(status=r.ERROR, error=f"rollback: {text}", rollback=text)
        if reboot:
            self._reboot("back to the previous slot")

    def _finish_reboot(self) -> None:
        if self.local.drained:
            set_drained(self.client, self.me, False)
            self.local.drained = False
            self._save()
        if self.local.lock_held:
            try:
                self.lock.release(self.me)
            except SemaphoreError as exc:  # a place of the earlier layout: an operator's
                self._error(exc)
            self.local.lock_held = False
            self._save()

    # -- main loop ----------------------------------------------------------------------

    def step(self) -> None:
        if self.rebooting:
            return
        self.apply_settings()
        if self.local.staged is not None:
            self._maybe_reboot()
            return
        asked = self._take_request("check")
        if asked or time.monotonic() >= self.next_check:
            spread = 1 + self.config.jitter * (2 * self.rand() - 1)
            self.next_check = time.monotonic() + self.config.interval * spread
            self.check_and_stage()

    def check_and_stage(self) -> None:
        if self.held():
            self.publish(status=r.IDLE, note="held: keeping the installed version")
            return
        installed = Version(self.status.version) if self.status.version else None
        self.publish(status=r.CHECKING, note="", progress=0.0)
        try:
            release = self.mirror.check(installed=installed)
        except TrustError as exc:
            self._error(exc)
            return
        # trust refused a lower version unless the channel allows downgrade: then it is
        # installed (a machine moved back to a channel behind the one it ran)
        downgrade = installed is not None and release.version < installed
        if installed is not None and not installed < release.version and not downgrade:
            self.publish(status=r.IDLE, note=f"up to date ({installed})", error="")
            return
        reason = self.bad_reason(release.release_id)
        if reason is not None:
            self.publish(status=r.IDLE, error="", note=(
                f"release {release.version} ({release.release_id}) {reason}; not installing"
                f" until an operator runs `corralctl update clear {release.release_id}`"))
            return
        if release.min_version and installed is not None and installed < release.min_version:
            self.publish(status=r.ERROR, error=(
                f"MinVersion: {release.version} updates only from {release.min_version}"
                f" or later; {installed} is installed"))
            return
        if self.config.canary and not self._may_install(release):
            return
        self.install(release)

    def _may_install(self, release: Release) -> bool:
        """A canary installs a release first; the others install it once a canary's own
        report proved it (`verdicts`: canaries are named by operators, or derived from
        the machines' ids, never claimed)."""
        named = named_canaries(self.client)
        machines = candidates(self.client)
        chosen = canary(self.me, self.settings.channel or "", named, machines)
        if chosen == self.me:
            return True
        if proven_by(read_reports(self.client), release.release_id, named, chosen):
            return True
        if self._exists(f"{r.CANARY}/{release.release_id}") == r.PROVEN:  # earlier layout
            return True
        silent = "" if any(m.machine == chosen and m.alive for m in machines) else (
            " (it does not heartbeat)")  # fmt: skip
        self.publish(status=r.IDLE, error="", note=(
            f"release {release.version} waits for {chosen} to pass its health gate{silent}"))
        return False

    def _error(self, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        if text != self.status.error:  # a failure repeated every tick is recorded once
            self.history("error", "", text)
        self.publish(status=r.ERROR, error=text, progress=0.0)

    def install(self, release: Release) -> None:
        version = str(release.version)
        self.publish(status=r.AVAILABLE, new_version=version, release_id=release.release_id)
        self.publish(status=r.DOWNLOADING, progress=0.0)
        try:
            path = self.mirror.download(release, self.downloads,
                                        _Published(self, release.payload.size))
            self.publish(status=r.VERIFYING, progress=1.0)
            _check_file(release, path)  # what goes into the slot is what was verified
        except TrustError as exc:
            self._error(exc)
            return
        self.publish(status=r.FINALIZING)
        state = self.slots.load()
        passive = state.passive
        self.slots.save(invalidate(state, passive))
        self.slots.write(passive, path)
        self.slots.save(stage(self.slots.load(), passive, version))
        path.unlink(missing_ok=True)
        self.local.staged = Staged(passive, version, release.release_id)
        self._save()
        self.history("installed", version, f"slot {passive}, boots next with one try")
        self.publish(status=r.NEED_REBOOT, error="", note="")

    def _maybe_reboot(self) -> None:
        staged = self.local.staged
        assert staged is not None
        if self.held():
            self.publish(status=r.NEED_REBOOT, note="held: not rebooting")
            return
        if self._unstage_if_bad(staged):
            return
        asked = self._exists(f"{r.REQUESTS}/{self.me}/reboot") is not None
        strategy = self.config.strategy
        waiting = wait_reason(strategy, asked, self.clock(), self.config.windows, self.me)
        if waiting is not None:
            self.publish(status=r.NEED_REBOOT, note=waiting)
            return
        if strategy == "lock" and not self.local.lock_held:
            if not self.lock.acquire(self.me):
                holders = ", ".join(self.lock.read().holders) or "-"
                self.publish(status=r.NEED_REBOOT, note=f"waiting for the reboot lock"
                             f" (held by {holders})")  # fmt: skip
                return
            self.local.lock_held = True
            self._save()
            if self._unstage_if_bad(staged):  # it may have failed elsewhere meanwhile
                self._finish_reboot()
                return
        if self.config.drain and not self._drain():
            return
        self._take_request("reboot")
        self.local.rebooting_to = staged
        self.local.staged = None
        self._save()
        self._reboot(f"into {staged.version} on slot {staged.slot}", staged.version)
        if not self.rebooting:  # the reboot command failed: still staged, try again later
            self.local.staged, self.local.rebooting_to = staged, None
            self._save()

    def _unstage_if_bad(self, staged: Staged) -> bool:
        reason = self.bad_reason(staged.release_id)
        if reason is None:
            return False
        self.slots.save(mark_bad(self.slots.load(), staged.slot))
        self.local.staged = None
        self._save()
        self.history("unstaged", staged.version, reason)
        self.publish(status=r.IDLE, new_version="", note=(
            f"release {staged.version} ({staged.release_id}) {reason}; unstaged until an"
            f" operator runs `corralctl update clear {staged.release_id}`"))
        return True

    def _drain(self) -> bool:
        if not set_drained(self.client, self.me, True):
            return True  # no scheduler agent here: nothing to move
        self.local.drained = True
        self._save()
        self.publish(note="draining units")
        deadline = time.monotonic() + self.config.drain_timeout
        while (left := units_here(self.client, self.me)) and time.monotonic() < deadline:
            self.publish(note=f"draining: waiting for {', '.join(left)} to move")
            if self._stop(min(self.config.tick, 0.2)):
                self._finish_reboot()  # stopping: give the units and the lock back
                return False
        if left:
            self._error(TimeoutError(f"units {', '.join(left)} did not move within"
                                     f" {self.config.drain_timeout:g}s; not rebooting"))
            self._finish_reboot()
            return False
        return True

    def _reboot(self, why: str, version: str = "") -> None:
        self.history("reboot", version, why)
        self.publish(note=f"rebooting {why}")
        self.rebooting = True
        done = subprocess.run(self.config.reboot_command, shell=True, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        if done.returncode != 0:
            self.rebooting = False
            self._error(RuntimeError(f"reboot command {self.config.reboot_command!r} exited"
                                     f" {done.returncode}: {done.stderr.strip()[-200:]}"))

    def run(self, stop: Callable[[float], bool]) -> None:
        """after_boot (retried while the store cannot be reached: it is safe to run
        again), then steps every tick until `stop(timeout)` returns True."""
        self._stop = stop
        while True:
            try:
                self.after_boot()
                break
            except StoreError as exc:
                log.warning("after boot: store: %s; retrying", exc)
            if stop(self.config.tick):
                return
        while True:
            try:
                self.step()
            except StoreError as exc:
                log.warning("store: %s", exc)
            except (SlotError, SemaphoreError, LockContended, OSError,
                    subprocess.SubprocessError) as exc:  # fmt: skip
                # reported, and tried again at the next check rather than exiting
                self._error(exc)
            if stop(self.config.tick):
                return


def _check_file(release: Release, path: Path) -> None:
    check = PayloadCheck(release.payload)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            check.feed(chunk)
    check.finish()
