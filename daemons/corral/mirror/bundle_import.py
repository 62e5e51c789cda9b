"""`import`: a bundle's releases into this mirror, checked member by member as it streams.

Order (the bundle is read once, front to back, never unpacked as a whole):
1. the documents (`channels.json`, `root.json`, `root/<N>.json`, `channels/<C>/release.json`
   and `channels/<C>/<serial>.json`), each at most `DOCUMENT_LIMIT` bytes, kept in memory;
2. at the first payload, they are verified exactly as `sync` verifies a mirror over HTTP
   (`plan_sync`: pinned keys or this mirror's root, the chain, expiry, rollback); a
   document nobody asked for (or a history entry that is not its channel's release) is
   refused, so nothing unsigned rides along;
3. each payload member must be one the verified releases declare, once, a regular file
   of the declared size; it is written to the work area through the declared-size bound
   and sha256 (`corral.mirror.receive`), and refused at the first surprise;
4. at the end of the tar, every needed payload must have come; then `commit_sync`.

Below the tar reader a `Budget` (`corral.mirror.tarstream`) lets through only the bytes
granted: a member's headers, then its data once the member is accepted. So a PAX or
long-name bomb, a sparse or oversize member, or a gzip bomb is stopped before more than
what was declared is decompressed, and any failure removes the partial payloads.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from corral.mirror.appendfile import AppendFile
from corral.mirror.bundle_limits import (
    MAX_BUNDLE_BYTES,
    MAX_DOCUMENT_BYTES,
    MAX_HEADER_BYTES,
    MAX_MEMBERS,
)
from corral.mirror.fetch import NotFound, Stream
from corral.mirror.layout import Layout, MirrorError
from corral.mirror.progress import Progress
from corral.mirror.receive import receive
from corral.mirror.roots import DOCUMENT_LIMIT
from corral.mirror.sync import (
    ProgressFactory,
    SyncPlan,
    SyncResult,
    commit_sync,
    missing_payloads,
    partial_file,
    plan_sync,
)
from corral.mirror.tarstream import Budget, Damaged, OverBudget, decompressed
from corral.trust import DEFAULT_SKEW, Payload, PayloadCheck, PayloadHashMismatch, Release

_CHANNEL = r"[a-z0-9][a-z0-9._-]{0,62}"
_DOCUMENT = re.compile(
    rf"channels\.json|root\.json|root/[1-9][0-9]{{0,8}}\.json"
    rf"|channels/{_CHANNEL}/(release|[0-9]{{1,19}})\.json"
)
_ROOT = re.compile(r"root/([0-9]+)\.json")
_HISTORY = re.compile(rf"channels/({_CHANNEL})/([0-9]{{1,19}})\.json")


class BundleFetcher:
    """The documents read from a bundle, served to `plan_sync`; records what it asked for."""

    def __init__(self, documents: dict[str, bytes]) -> None:
        self.documents = documents
        self.requested: set[str] = set()

    def document(self, path: str, limit: int) -> bytes:
        self.requested.add(path)
        if path not in self.documents:
            raise _Missing(path)
        return self.documents[path]

    def open_range(self, path: str, offset: int, size: int) -> Stream:
        raise NotFound(f"{path}: payloads are read in the bundle's order")


# what tarfile raises on a damaged or hostile archive besides TarError (a PAX number
# that is not one, a sparse map that does not add up, a name that does not decode)
_TAR_ERRORS = (tarfile.TarError, ValueError, OverflowError, EOFError)


class _Damaged(MirrorError):
    pass


_START = "(start)"  # no member read yet


@contextmanager
def _reading(bundle: Path, after: str) -> Iterator[None]:
    """Turn tarfile's errors on a damaged archive into one clear refusal."""
    try:
        yield
    except _TAR_ERRORS as e:
        where = "not a readable tar bundle" if after == _START else \
            f"damaged after member {after!r}"
        raise _Damaged(f"{bundle}: {where}: {type(e).__name__}: {e}; import stopped") from None


class _Missing(NotFound):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: not in the bundle")
        self.path = path


class _Import:
    """One import's state: the tar, its budget, and what was declared and staged."""

    def __init__(self, bundle: Path, tar: tarfile.TarFile, budget: Budget) -> None:
        self.bundle = bundle
        self.tar = tar
        self.budget = budget
        self.last = _START  # the last member read, for messages
        self.count = 0
        self.staged: dict[Path, Path] = {}

    def refuse(self, member: tarfile.TarInfo | None, why: str) -> MirrorError:
        name = repr(member.name) if member is not None else f"after {self.last!r}"
        return MirrorError(f"{self.bundle}: member {name}: {why}; import stopped")

    def next(self) -> tarfile.TarInfo | None:
        self.budget.allow(MAX_HEADER_BYTES)
        with _reading(self.bundle, self.last):
            member = self.tar.next()
        if member is None:
            return None
        self.count += 1
        if self.count > MAX_MEMBERS:
            raise self.refuse(member, f"more than {MAX_MEMBERS} members")
        self.last = member.name
        return member

    def documents(self) -> tuple[dict[str, bytes], tarfile.TarInfo | None]:
        """The documents at the front of the bundle, and the first member after them."""
        documents: dict[str, bytes] = {}
        total = 0
        while (member := self.next()) is not None and not member.name.startswith("pool/"):
            if not _DOCUMENT.fullmatch(member.name):
                raise self.refuse(member, "not a file a bundle holds")
            if member.name in documents:
                raise self.refuse(member, "appears twice")
            self._regular(member, DOCUMENT_LIMIT)
            total += member.size
            if total > MAX_DOCUMENT_BYTES:
                raise self.refuse(member, f"documents exceed {MAX_DOCUMENT_BYTES} bytes in all")
            self.budget.allow(member.size)
            with _reading(self.bundle, self.last):
                source = self.tar.extractfile(member)
                data = source.read(member.size + 1) if source is not None else b""
            if len(data) != member.size:
                raise self.refuse(member, "truncated")
            documents[member.name] = data
        return documents, member

    def _regular(self, member: tarfile.TarInfo, limit: int) -> None:
        if member.issparse() or not member.isreg():
            raise self.refuse(member, "not a regular file")
        if member.size > limit:
            raise self.refuse(member, f"{member.size} bytes, more than {limit}")

    def payloads(
        self, first: tarfile.TarInfo | None, declared: dict[str, Release],
        needed: dict[Path, Release], layout: Layout, bar: Progress,
    ) -> None:
        seen: set[str] = set()
        member = first
        while member is not None:
            release = declared.get(member.name)
            if release is None:
                why = "a document after the payloads" if _DOCUMENT.fullmatch(member.name) \
                    else "not declared by any verified release"
                raise self.refuse(member, why)
            if member.name in seen:
                raise self.refuse(member, "appears twice")
            seen.add(member.name)
            payload = release.payload
            self._regular(member, payload.size)
            if member.size != payload.size:
                raise self.refuse(member, f"{member.size} bytes, declared {payload.size}")
            target = layout.pool_file(payload.path)
            if target in needed:
                self.staged[target] = partial_file(layout, release)  # removed on failure
                self._receive(member, payload, self.staged[target], bar)
            else:
                self.budget.allow(member.size)  # already here: skipped, still bounded
            member = self.next()

    def _receive(
        self, member: tarfile.TarInfo, payload: Payload, partial: Path, bar: Progress
    ) -> None:
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)  # a sync's leftover: this import starts afresh
        self.budget.allow(member.size)
        check = PayloadCheck(payload)
        with _reading(self.bundle, self.last):
            source = self.tar.extractfile(member)
            if source is None:
                raise self.refuse(member, "no data")
            with source, AppendFile(partial) as file:
                # typeshed says IO[bytes]; tarfile's member file is an io.BufferedReader
                receive(source, file, check, bar)  # type: ignore[arg-type]
                file.sync()
        try:
            check.finish()
        except PayloadHashMismatch as e:
            raise PayloadHashMismatch(f"{self.bundle}: member {member.name!r}: {e}") from None


def _unrequested(
    documents: dict[str, bytes], fetcher: BundleFetcher, plan: SyncPlan, layout: Layout
) -> str:
    """A document the verification did not read and that is neither the current root
    (this mirror's own), an older link of the root chain, nor a release's history entry
    (the same bytes as the channel's release.json)."""
    releases = {r.channel: r for r in plan.verified}
    for name, data in documents.items():
        if name in fetcher.requested:
            continue
        if name == "root.json" and data == (
            plan.roots_to_write[-1][1] if plan.roots_to_write else layout.root_file.read_bytes()
        ):
            continue
        if (root := _ROOT.fullmatch(name)) and int(root.group(1)) <= plan.result.root_version:
            continue
        history = _HISTORY.fullmatch(name)
        release = releases.get(history.group(1)) if history else None
        if (
            history is None
            or release is None
            or int(history.group(2)) != release.serial
            or data != documents.get(f"channels/{release.channel}/release.json")
        ):
            return name
    return ""


def import_bundle(
    layout: Layout,
    bundle: Path,
    *,
    now: datetime,
    pinned: Sequence[str] = (),
    threshold: int | None = None,
    skew: timedelta = DEFAULT_SKEW,
    progress: ProgressFactory = Progress,
    max_bytes: int = MAX_BUNDLE_BYTES,
) -> SyncResult:
    if not bundle.is_file():
        raise MirrorError(f"{bundle}: no such bundle")
    layout.work.mkdir(parents=True, exist_ok=True)
    state: _Import | None = None
    try:
        with open(bundle, "rb") as raw, decompressed(raw) as stream:
            budget = Budget(stream, max_bytes)
            budget.allow(MAX_HEADER_BYTES)  # opening the tar reads the first member's header
            with _reading(bundle, _START):
                # closed by the `with` below, once open did not raise
                tar = tarfile.open(fileobj=budget, mode="r|")  # noqa: SIM115
            with tar:
                state = _Import(bundle, tar, budget)
                documents, first = state.documents()
                fetcher = BundleFetcher(documents)
                try:
                    plan = plan_sync(layout, fetcher, now=now, pinned=pinned,
                                     threshold=threshold, skew=skew)
                except _Missing as e:
                    raise MirrorError(f"{bundle}: lacks {e.path!r} before its first payload"
                                      " (documents come first); import stopped") from None
                if name := _unrequested(documents, fetcher, plan, layout):
                    raise MirrorError(f"{bundle}: member {name!r}: not part of the verified"
                                   " releases; import stopped")
                declared = {r.payload.path: r for r in plan.verified}
                needed = missing_payloads(layout, plan)
                total = sum(r.payload.size for r in needed.values())
                if total > max_bytes:
                    raise MirrorError(f"{bundle}: the releases declare {total} bytes of payload,"
                                   f" more than --max-bytes {max_bytes}")
                bar = progress(bundle.name, total)
                state.payloads(first, declared, needed, layout, bar)
                bar.finish()
                for target, release in needed.items():
                    if target not in state.staged:
                        raise MirrorError(f"{bundle}: lacks the payload {release.payload.path!r}"
                                       f" of channel {release.channel}")
                return commit_sync(layout, plan, dict(state.staged))
    except OverBudget as e:
        last = state.last if state is not None else _START
        raise MirrorError(f"{bundle}: after member {last!r}: {e}; import stopped") from None
    except (Damaged, tarfile.TarError) as e:
        raise MirrorError(f"{bundle}: not a readable tar bundle: {e}") from None
    finally:
        if state is not None:
            for partial in state.staged.values():
                partial.unlink(missing_ok=True)  # left only when the import failed
