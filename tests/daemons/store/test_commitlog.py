"""The commit log's framing: intact records back, a torn tail dropped, damage refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.store.commitlog import CommitLog, LogCorruptError, frame, scan


def _log(*payloads: bytes, zeros: int = 64) -> bytes:
    return b"".join(frame(p) for p in payloads) + bytes(zeros)


def test_records_come_back_in_order_and_zeros_end_the_log() -> None:
    found = scan(_log(b"one", b"two", b"three"))
    assert found.payloads == [b"one", b"two", b"three"]
    assert found.torn is None
    assert found.end == len(_log(b"one", b"two", b"three", zeros=0))


def test_a_half_written_last_record_is_dropped_as_torn() -> None:
    whole = _log(b"one", b"two", zeros=0)
    last = frame(b"x" * 100)
    torn = whole + last[:60] + bytes(200)
    found = scan(torn)
    assert found.payloads == [b"one", b"two"]
    assert found.torn == (len(whole), len(whole) + len(last))
    assert scan(whole + last[:5]).torn == (len(whole), len(whole) + 5)  # torn header


def test_a_damaged_record_with_records_after_it_is_corruption() -> None:
    data = bytearray(_log(b"first record", b"second record"))
    data[10] ^= 0xFF
    with pytest.raises(LogCorruptError, match="damaged record at byte 0"):
        scan(bytes(data), "store.log")


def test_data_after_the_end_marker_is_corruption() -> None:
    with pytest.raises(LogCorruptError, match="after the end"):
        scan(_log(b"one") + b"stray")


def test_append_survives_reopen_and_a_torn_tail_is_zeroed_on_open(tmp_path: Path) -> None:
    path = tmp_path / "store.log"
    log = CommitLog(path)
    assert log.open() == []
    for i in range(400):  # past one growth chunk
        log.append(b"record %d " % i + b"v" * 3000)
    end = log.end
    log.close()
    assert path.stat().st_size > end  # grown ahead in zeros
    with open(path, "r+b") as f:
        f.seek(end - 10)
        f.write(bytes(10))
    log = CommitLog(path)
    payloads = log.open()
    assert len(payloads) == 399 and payloads[-1].startswith(b"record 398 ")
    assert log.torn is not None
    log.append(b"short")  # lands where the torn record was; nothing of it survives
    log.close()
    log = CommitLog(path)
    assert log.open()[-2:] == [payloads[-1], b"short"]
    assert log.torn is None
    log.reset()
    log.close()
    assert CommitLog(path).open() == []
