"""Group commit's state machine, driven by explicit calls without an event loop or a
disk: which writes form a batch, when a batch may start, what follows a commit."""

from __future__ import annotations

import pytest

from corral.etcd_errors import EtcdError
from corral.store.event import Event
from corral.store.group_commit import Advance, CommitBatch, GroupCommit
from corral.store.keys_request import KeysRequest, apply_write
from corral.store.store import Store

Answers = list[Event | EtcdError]


def put(path: str) -> KeysRequest:
    return KeysRequest("PUT", path, value="v")


def apply(group: GroupCommit, store: Store, answers: Answers) -> CommitBatch | None:
    """What the owner does on `ready()`: apply the writes, put the batch in flight."""
    queued = group.ready()
    if queued is None:
        return None
    results: Answers = [apply_write(store, request) for request, _ in queued]
    batch = CommitBatch(
        [reply for _, reply in queued], results, store.take_journal(), store.take_events(),
        store.index,
    )  # fmt: skip
    group.applied(batch)
    return batch


def two_in_flight(group: GroupCommit) -> tuple[CommitBatch, CommitBatch]:
    """Two batches applied one after the other (the group's depth allows it)."""
    store: Store = Store()
    answers: Answers = []
    group.submit(put("/a"), answers.append)
    first = apply(group, store, answers)
    group.submit(put("/b"), answers.append)
    second = apply(group, store, answers)
    assert first is not None and second is not None
    return first, second


def test_writes_queued_together_form_one_batch_and_the_next_waits_for_it() -> None:
    group, store, answers = GroupCommit(pipeline_depth=1), Store(), []
    for i in range(3):
        group.submit(put(f"/k{i}"), answers.append)
    first = apply(group, store, answers)
    assert first is not None and len(first.replies) == 3
    assert group.committing and first.pending.affects("/k1") and not group.affects("/other")
    group.submit(put("/late"), answers.append)
    assert group.ready() is None  # one batch in flight at depth 1
    assert group.committed(first, ok=True) is Advance.RESUME
    second = apply(group, store, answers)
    assert second is not None
    assert [e.key for e in second.results if isinstance(e, Event)] == ["/late"]


def test_a_deeper_pipeline_starts_the_next_batch_while_one_commits() -> None:
    group = GroupCommit(pipeline_depth=2)
    first, second = two_in_flight(group)
    assert group.ready() is None  # two in flight
    assert group.committed(first, ok=True) is Advance.START_NEXT
    assert group.committed(second, ok=True) is Advance.RESUME


def test_batches_complete_only_in_the_order_they_were_applied() -> None:
    group = GroupCommit(pipeline_depth=2)
    _, second = two_in_flight(group)
    with pytest.raises(AssertionError):
        group.committed(second, ok=True)


def test_a_parked_read_stops_new_batches_until_it_has_run() -> None:
    group, store, answers = GroupCommit(pipeline_depth=2), Store(), []
    group.submit(put("/a"), answers.append)
    first = apply(group, store, answers)
    assert first is not None
    ran: list[str] = []
    group.park(lambda: ran.append("read"))
    group.submit(put("/b"), answers.append)
    assert group.ready() is None  # would starve the parked read
    assert group.committed(first, ok=True) is Advance.RESUME
    for run in group.take_parked():
        run()
    assert ran == ["read"] and group.ready() is not None


def test_a_failed_commit_recovers_once_nothing_is_in_flight_and_blocks_batches_meanwhile() -> None:
    group = GroupCommit(pipeline_depth=2)
    first, second = two_in_flight(group)
    answers: Answers = []
    assert group.committed(first, ok=False) is Advance.WAIT  # the one behind is still out
    assert group.ready() is None and group.committing
    assert group.committed(second, ok=False) is Advance.RECOVER
    group.submit(put("/c"), answers.append)
    assert group.ready() is None  # not before memory equals disk again
    group.recovered()
    assert not group.committing and group.ready() is not None


def test_commits_run_inline_only_while_they_are_quick_and_nothing_else_is_in_flight() -> None:
    group = GroupCommit(pipeline_depth=2, inline_commit_max=0.001)
    first, second = CommitBatch([], [], [], [], 1), CommitBatch([], [], [], [], 2)
    assert group.applied(first) is True
    assert group.applied(second) is False  # one already in flight
    group.committed(first, ok=True)
    group.committed(second, ok=True)
    for _ in range(40):
        group.took(0.01)  # the disk became slow
    assert group.applied(CommitBatch([], [], [], [], 3)) is False
