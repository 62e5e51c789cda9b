"""The update engine: check, download, verify, stage, reboot, and the health gate after.

`Updater.after_boot()` runs once at start (it is what happens after a reboot);
`Updater.step()` is one pass of the main loop. Both take time from an injected clock,
so maintenance windows and check intervals are tested without waiting.

Its invariants (state read from the slots, nothing unverified written, the lock and
drain kept until the health gate passed, ...) are listed in ARCHITECTURE.md, "The
update engine's invariants".
"""

from __future__ import annotations

import contextlib
import logging
import random
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corral.client import Client, StoreError
from corral.mirror.client import MirrorClient
from corral.systemd import Notifier
from corral.trust import Release, TrustError, Version
from corral.updated import metrics
from corral.updated import records as r
from corral.updated.control import ControlKeys
from corral.updated.converge import Situation, assess
from corral.updated.download_job import Cancelled, DownloadJob
from corral.updated.drain import set_drained, units_here
from corral.updated.health import HealthChecks, run_health_gate
from corral.updated.local_state import GateResult, LocalState, Staged
from corral.updated.policy import wait_reason
from corral.updated.reboot_lock import LockContended, RebootLock
from corral.updated.reports import candidates, named_canaries, read_reports, write_report
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
from corral.updated.store_input import StoreInput
from corral.updated.verdicts import canary, failures, proven_by
from corral.updated.windows import MaintenanceWindow

log = logging.getLogger("corral.updated")

# free space asked for beyond the payload: the state, trust and slot files written after
FREE_MARGIN = 16 << 20


@dataclass
class UpdaterConfig:
    """The daemon's settings from its flags: identity, strategy, windows, checks."""
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
    free_margin: int = FREE_MARGIN  # bytes free beyond the payload before downloading


def _now_text(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _sleep_unstopped(timeout: float) -> bool:
    """The wait of an updater nothing can stop: `timeout` seconds, never stopped."""
    time.sleep(timeout)
    return False


class Updater:
    """The update engine of one machine: one `step()` per pass of the main loop."""

    def __init__(
        self,
        config: UpdaterConfig,
        client: Client,
        slots: SlotBackend,
        mirror: MirrorClient,
        connect: Callable[[], Client],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rand: Callable[[], float] = random.random,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.connect = connect  # a client of its own for the download thread
        self.slots = slots
        self.mirror = mirror
        self.clock = clock
        self.rand = rand
        self.me = config.machine_id
        self.input = StoreInput(client)
        self.control = ControlKeys(connect, self.me)  # settings and requests, watched
        self._control_seen = -1  # the copy's version the settings were last taken from
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
        self._publishing = threading.Lock()  # the download thread publishes progress too
        self.next_check = 0.0  # monotonic; 0 = at once
        self.rebooting = False
        self._reboot_failing = False  # the last reboot command failed
        self.job: DownloadJob | None = None
        self._job_client: Client | None = None  # the download thread's own
        self._verdict_error = ""
        self._stop: Callable[[float], bool] = _sleep_unstopped
        self.notifier = notifier if notifier is not None else Notifier({})
        self._next_ping = 0.0  # monotonic time of the next WATCHDOG=1
        metrics.REBOOT_LOCK_HELD.set(self.local.lock_held)

    # -- store records ----------------------------------------------------------------

    def publish(self, via: Client | None = None, /, **changes: Any) -> None:
        with self._publishing:
            self.status = replace(self.status, **changes, updated=_now_text(self.clock()))
            metrics.STATUS.state(self.status.status)
            try:
                (via or self.client).set(f"{r.MACHINES}/{self.me}", r.encode(self.status))
            except StoreError as exc:
                log.warning("status not published: %s", exc)

    def history(self, event: str, version: str = "", detail: str = "") -> None:
        entry = r.HistoryEntry(_now_text(self.clock()), event, version, detail)
        log.info("%s %s %s", event, version, detail)
        try:
            self.client.append(f"{r.HISTORY}/{self.me}", r.encode(entry))
        except StoreError as exc:
            log.warning("history not recorded: %s", exc)

    def bad_reason(self, release_id: str) -> str | None:
        failed = failures(read_reports(self.client), release_id)
        if failed:
            return f"failed its health check on {failed[0].machine}: {failed[0].reason}"
        text = self.input.value(f"{r.BAD}/{release_id}")  # the earlier layout's mark
        if text is None:
            return None
        with contextlib.suppress(r.UpdateRecordError):
            bad = r.decode(r.BadRelease, text)
            return f"failed its health check on {bad.machine}: {bad.reason}"
        return "marked bad"

    def _report(self, release_id: str, version: str, verdict: str, reason: str = "") -> None:
        write_report(self.client, r.Verdict(release_id, version, self.me, verdict, reason,
                                            _now_text(self.clock())))  # fmt: skip

    def held(self) -> bool:
        return any(self.input.value(f"{r.HOLDS}/{k}") is not None
                   for k in (self.me, r.HOLD_ALL))  # fmt: skip

    def _take_request(self, kind: str) -> bool:
        return self.input.take_from(self._requests(), f"{r.REQUESTS}/{self.me}/{kind}")

    def _requests(self) -> dict[str, str]:
        return self.control.copy(self.control.requests)

    def close(self) -> None:
        """Stop watching the store (the daemon's end, or a test's)."""
        self.control.stop()

    def _save(self) -> None:
        self.local.save(self.state_file)
        metrics.REBOOT_LOCK_HELD.set(self.local.lock_held)

    def _observe(self, s: Situation) -> None:
        """The slots' versions, as this pass found them, for the metrics."""
        metrics.VERSIONS.info({"installed": s.running.version, "slot": s.booted,
                               "staged": s.staged.version if s.staged else ""})  # fmt: skip

    def _ping(self) -> None:
        """WATCHDOG=1, at most every half of the unit's WatchdogSec=."""
        every = self.notifier.ping_interval()
        if every is not None and time.monotonic() >= self._next_ping:
            self.notifier.watchdog()
            self._next_ping = time.monotonic() + every

    def _sleep_alive(self, seconds: float) -> None:
        self._ping()
        time.sleep(seconds)

    # -- settings from the store ----------------------------------------------------------

    def apply_settings(self) -> None:
        """Look at `config/all` and `config/<me>` (starting the watches on the first
        call); apply what changed, or report a bad record and keep the settings in use."""
        self.control.start()
        if self.control.version == self._control_seen:
            return
        self._control_seen = self.control.version
        copy = self.control.copy(self.control.settings)
        records = {name: self.input.value_in(copy, f"{r.CONFIG}/{name}")
                   for name in (r.HOLD_ALL, self.me)}  # fmt: skip
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
        if wanted.channel is not None and wanted.channel != self.settings.channel:
            self.mirror.config = replace(self.mirror.config, channel=wanted.channel)
            self.next_check = 0.0  # the new channel is checked at once
            if self.job is not None:
                self.job.cancel(f"channel changed to {wanted.channel}")
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

    # -- after boot, and every pass: converge on what the slots say ---------------------

    def after_boot(self) -> None:
        """What the daemon does on start, from whatever state it finds (see `converge`)."""
        s = assess(self.slots.load(), self.local.written)
        self._observe(s)
        # One record: a watcher must not see IDLE on a slot still on trial.
        self.publish(version=s.running.version, slot=s.booted, rollback=self.local.rollback,
                     status=r.VERIFYING if s.gate_due else r.IDLE, error="",
                     note=f"health gate for {s.running.version}" if s.gate_due else "")  # fmt: skip
        self._record_verdict()
        if self._converge(s) is None:
            return
        target = self.local.rebooting_to
        if target is not None and target.slot != s.booted:
            self.local.rebooting_to = None
            self._save()
            self.history("back", s.running.version, f"running slot {s.booted} again")
        self.publish(status=r.IDLE, note="", rollback=self.local.rollback)
        self._finish_reboot()

    def _converge(self, s: Situation) -> Situation | None:
        """Act on what the slots say must happen first; the situation after, or None when
        this pass is spent (a health gate ran, or a reboot back is under way)."""
        if s.on_bad_slot:
            self._go_back(s)
            return None
        if s.gate_due:
            self._health_gate(s)
            return None
        if s.fell_back is not None:
            self._fell_back(s.fell_back)
        if s.stray:
            # staged with a release id this daemon does not know (its state file was
            # lost): no canary or bad mark could be kept for it; the next check installs
            # the release again, knowing its id
            state = self.slots.load()
            passive = state.passive
            self.slots.save(invalidate(state, passive))
            self.history("unstaged", "", f"slot {passive} was staged by no install this"
                         " daemon remembers; installing again")  # fmt: skip
        if s.fell_back is not None or s.stray:
            s = assess(self.slots.load(), self.local.written)
        return s

    def _health_gate(self, s: Situation) -> None:
        booted, version = s.booted, s.running.version
        self._show(status=r.VERIFYING, note=f"health gate for {version}")
        checks = replace(self.config.health, env={
            **self.config.health.env, "CORRAL_SLOT": booted,
            "CORRAL_SLOT_PATH": self.slots.location(booted),
            "CORRAL_VERSION": version,
        })  # fmt: skip
        why = run_health_gate(checks, sleep=self._sleep_alive)  # rounds until --health-timeout
        metrics.HEALTH_GATES.labels("passed" if why is None else "failed").inc()
        release_id = s.release.release_id if s.release else ""
        if release_id:  # kept before the slot changes, written until the store takes it
            self.local.verdict = GateResult(release_id, version, why is None, why or "")
            self._save()
        state = self.slots.load()  # unchanged by the checks, but be exact
        if why is None:
            self.slots.save(mark_good(state, booted))
            self.local.rebooting_to = None
            self.local.rollback = ""
            self._save()
            self.history("good", version, f"slot {booted} passed the health gate")
            self._record_verdict()
            self.publish(status=r.IDLE, note="", rollback="")
            self._finish_reboot()
            return
        self.slots.save(mark_bad(state, booted))
        self._rollback(version, why)
        self._record_verdict()
        self._reboot("back to the previous slot")

    def _go_back(self, s: Situation) -> None:
        """On a slot marked bad (the reboot back was cut short): reboot again."""
        if self.rebooting:
            return
        other = self.slots.load().slot(self.slots.load().passive)
        if not other.bootable:
            self._error(SlotError(f"slot {s.booted} is marked bad and the other slot"
                                  " cannot boot; repair the slots by hand"))  # fmt: skip
            return
        if not self.local.rollback:  # stopped between the mark and the report
            verdict = self.local.verdict
            self._rollback(s.running.version, verdict.reason if verdict and not verdict.good
                           else f"slot {s.booted} was marked bad")  # fmt: skip
        self._reboot("back to the previous slot")

    def _fell_back(self, failed: Staged) -> None:
        """The boot loader fell back: the new slot spent its try without being marked
        good (it crashed or hung before the gate)."""
        why = f"slot {failed.slot} did not boot to a healthy system"
        if failed.release_id:
            self.local.verdict = GateResult(failed.release_id, failed.version, False, why)
            self._save()
        self.slots.save(mark_bad(self.slots.load(), failed.slot))  # reported: not again
        self._rollback(failed.version, why)
        self._record_verdict()

    def _rollback(self, version: str, why: str) -> None:
        text = f"{version} rolled back: {why}"
        metrics.ROLLBACKS.inc()
        self.local.rollback = text
        self._save()
        self.history("rollback", version, why)
        self.publish(status=r.ERROR, error=f"rollback: {text}", rollback=text)

    def _record_verdict(self) -> None:
        """Write the pending health-gate result as this machine's report; kept and tried
        again on the next pass while the store cannot take it (the rollout waits on a
        canary's proof, and a failure keeps the release from the fleet)."""
        result = self.local.verdict
        if result is None:
            return
        try:
            self._report(result.release_id, result.version,
                         r.PROVEN if result.good else r.FAILED, result.reason)  # fmt: skip
        except StoreError as exc:
            if str(exc) != self._verdict_error:
                self._verdict_error = str(exc)
                log.warning("report on %s not written yet (retrying): %s",
                            result.release_id, exc)  # fmt: skip
            return
        self._verdict_error = ""
        self.local.verdict = None
        self._save()

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
        if self.job is not None:
            self._tend_download()
            return
        self._record_verdict()
        assessed = assess(self.slots.load(), self.local.written)
        self._observe(assessed)
        s = self._converge(assessed)
        if s is None:
            return
        if s.staged is not None:
            self._maybe_reboot(s.staged)
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
            metrics.checked("error", self.clock().timestamp())
            self._error(exc)
            return
        except OSError:
            metrics.checked("error", self.clock().timestamp())
            raise
        # trust refused a lower version unless the channel allows downgrade: then it is
        # installed (a machine moved back to a channel behind the one it ran)
        downgrade = installed is not None and release.version < installed
        current = installed is not None and not installed < release.version and not downgrade
        metrics.checked("up_to_date" if current else "available", self.clock().timestamp())
        if current:
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
        if self.input.value(f"{r.CANARY}/{release.release_id}") == r.PROVEN:  # earlier layout
            return True
        silent = "" if any(m.machine == chosen and m.alive for m in machines) else (
            " (it does not heartbeat)")  # fmt: skip
        self._show(status=r.IDLE, error="", note=(
            f"release {release.version} waits for {chosen} to pass its health gate{silent}"
            f"{self._trouble(chosen)}"))
        return False

    def _trouble(self, machine: str) -> str:
        """What the canary reports, when it reports an error: a canary that cannot install
        (a full disk...) halts the rollout, and the waiting machines say why."""
        text = self.input.value(f"{r.MACHINES}/{machine}")
        try:
            theirs = r.decode(r.MachineStatus, text) if text is not None else None
        except r.UpdateRecordError:
            return ""
        if theirs is None or theirs.status != r.ERROR:
            return ""
        return f"; {machine} reports {theirs.error[:200]}"

    def _error(self, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        if text != self.status.error:  # a failure repeated every tick is recorded once
            self.history("error", "", text)
        self._show(status=r.ERROR, error=text, progress=0.0)  # and written once

    # -- install: download on a thread, then the slot -----------------------------------

    def install(self, release: Release) -> None:
        self.publish(status=r.AVAILABLE, new_version=str(release.version),
                     release_id=release.release_id)  # fmt: skip
        self.publish(status=r.DOWNLOADING, progress=0.0)
        client = self.connect()

        def report(fraction: float) -> None:  # on the download thread, its own client
            self.publish(client, progress=fraction)

        self.job = DownloadJob(self.mirror, release, self.downloads, self.config.free_margin,
                               report).start()  # fmt: skip
        self._job_client = client

    def _tend_download(self) -> None:
        """One pass while the download runs: answer holds and requests, and stage the
        payload once it is complete."""
        job = self.job
        assert job is not None
        if not job.cancelled.is_set() and self.held():
            job.cancel("held")
            self.publish(note=f"held: stopping the download of {job.release.version}")
        if self._take_request("check"):  # answered: this download is the check's result
            self.publish(note=f"checked: {job.release.version} is downloading")
        if job.running:
            return
        self.job = None
        if self._job_client is not None:
            self._job_client.close()
        release = job.release
        if job.error is not None:
            if isinstance(job.error, Cancelled):  # the partial file stays for resuming
                held = str(job.error) == "held"
                note = ("held: keeping the installed version" if held
                        else f"download of {release.version} stopped: {job.error}")  # fmt: skip
                self.publish(status=r.IDLE, new_version="", progress=0.0, note=note)
            else:
                self._error(job.error)
            return
        assert job.path is not None
        self.publish(status=r.VERIFYING, progress=1.0)
        try:
            self._stage(release, job.path)
        except (SlotError, OSError) as exc:
            self._error(exc)
        finally:
            job.path.unlink(missing_ok=True)

    def _stage(self, release: Release, path: Path) -> None:
        version = str(release.version)
        self.publish(status=r.FINALIZING)
        state = self.slots.load()
        passive = state.passive
        # remembered before the slot is touched: a crash after staging still knows its id
        self.local.written = Staged(passive, version, release.release_id)
        self._save()
        self.slots.save(invalidate(state, passive))
        self.slots.write(passive, path)
        self.slots.save(stage(self.slots.load(), passive, version))
        self.history("installed", version, f"slot {passive}, boots next with one try")
        self.publish(status=r.NEED_REBOOT, error="", note="")

    def stop_download(self, timeout: float) -> None:
        """On shutdown: cancel a running download (its partial file stays for resuming)."""
        if self.job is not None:
            self.job.cancel("shutting down")
            self.job.wait(timeout)

    # -- reboots ------------------------------------------------------------------------

    def _maybe_reboot(self, staged: Staged) -> None:
        if self.held():
            self.publish(status=r.NEED_REBOOT, note="held: not rebooting")
            return
        if self._unstage_if_bad(staged):
            return
        asked = self.input.value_in(self._requests(), f"{r.REQUESTS}/{self.me}/reboot") is not None
        strategy = self.config.strategy
        waiting = wait_reason(strategy, asked, self.clock(), self.config.windows, self.me)
        if waiting is not None:
            self._show_staged(staged, waiting)
            return
        if strategy == "lock" and not self.local.lock_held:
            if not self.lock.acquire(self.me):
                holders = ", ".join(self.lock.read().holders) or "-"
                self._show_staged(staged, f"waiting for the reboot lock (held by {holders})")
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
        self._save()
        self._reboot(f"into {staged.version} on slot {staged.slot}", staged.version)

    def _show_staged(self, staged: Staged, note: str) -> None:
        self._show(status=r.NEED_REBOOT, note=note, new_version=staged.version,
                   release_id=staged.release_id)  # fmt: skip

    def _show(self, **shown: Any) -> None:
        """Publish only what changes the status: a pass that waits writes nothing."""
        if any(getattr(self.status, k) != v for k, v in shown.items()):
            self.publish(**shown)

    def _unstage_if_bad(self, staged: Staged) -> bool:
        reason = self.bad_reason(staged.release_id)
        if reason is None:
            return False
        self.slots.save(mark_bad(self.slots.load(), staged.slot))
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
        if not self._reboot_failing:  # a command failing every pass is recorded once
            self.history("reboot", version, why)
        self._show(note=f"rebooting {why}")
        self.rebooting = True
        done = subprocess.run(self.config.reboot_command, shell=True, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        self._reboot_failing = done.returncode != 0
        if done.returncode != 0:  # the slots still say what to do: tried again next pass
            self.rebooting = False
            self._error(RuntimeError(f"reboot command {self.config.reboot_command!r} exited"
                                     f" {done.returncode}: {done.stderr.strip()[-200:]}"))

    def run(self, stop: Callable[[float], bool]) -> None:
        """after_boot (retried while the store cannot be reached: it is safe to run
        again), then steps every tick until `stop(timeout)` returns True."""
        def wait(timeout: float) -> bool:  # every wait of the loop says it is alive
            self._ping()
            return stop(timeout)

        self._stop = wait
        try:
            self._run(wait)
        finally:
            self.stop_download(self.config.tick)
            self.close()

    def _run(self, stop: Callable[[float], bool]) -> None:
        while True:
            try:
                self.after_boot()
                self.notifier.ready(f"machine {self.me} on slot {self.status.slot}")
                break
            except StoreError as exc:
                log.warning("after boot: store: %s; retrying", exc)
            except (SlotError, OSError, subprocess.SubprocessError) as exc:
                self._error(exc)  # a full disk, unreadable slots: reported, tried again
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
