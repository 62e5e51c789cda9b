"""The one-pass receive (O_DIRECT writes, hashing on a thread): exact bytes, clear errors."""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import time

from mirror_servers import Trickster
from mirror_setup import client_for, make_upstream

from corral.mirror.appendfile import ALIGN, AppendFile
from corral.mirror.cli import main
from corral.mirror.fetch import DirectoryFetcher
from corral.mirror.receive import CHUNK, DEPTH, receive
from corral.trust import Payload, PayloadCheck

ODD = (3 << 20) + 12345  # neither the payload nor the resume point is block-aligned


def test_odd_sized_payload_resumed_at_an_odd_offset_is_byte_exact(tmp_path, keys):
    upstream = make_upstream(tmp_path, keys, payload_size=ODD)
    payload = (tmp_path / "os-1.0.0.img").read_bytes()
    client = client_for(DirectoryFetcher(upstream.dir), keys, tmp_path / "state.json")
    release = client.check()
    whole = client.download(release, tmp_path / "whole")
    assert whole.read_bytes() == payload
    for offset in (1_000_003, 1 << 20):  # resumed buffered, and with O_DIRECT from the start
        resumed = tmp_path / f"resumed-{offset}"
        resumed.mkdir()
        partial = resumed / f".os-1.0.0.img.{release.payload.sha256[:16]}.partial"
        partial.write_bytes(payload[:offset])
        assert client.download(release, resumed).read_bytes() == payload


def _small_file_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_a_disk_error_mid_sync_is_reported_and_nothing_becomes_visible(tmp_path, keys):
    upstream = make_upstream(tmp_path, keys, payload_size=4 << 20)
    internal = tmp_path / "internal"
    proc = subprocess.run(
        [sys.executable, "-m", "corral.mirror.cli", "sync", str(internal), str(upstream.dir),
         "--key", keys.alice, "--key", keys.bob, "--threshold", "2"],
        capture_output=True, text=True, timeout=60, preexec_fn=_small_file_limit,
    )
    assert proc.returncode == 1, proc.stderr
    assert "File too large" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (internal / "channels/stable/release.json").exists()
    assert not list(internal.glob("pool/*/*"))


def test_a_connection_reset_mid_payload_fails_cleanly_and_resumes(tmp_path, keys, capsys):
    upstream = make_upstream(tmp_path, keys, payload_size=4 << 20)
    payload = (tmp_path / "os-1.0.0.img").read_bytes()
    resets = []

    def reset_once(path, handler) -> bool:
        if resets:
            return False
        resets.append(path)
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload[: len(payload) // 3])
        handler.wfile.flush()
        # linger 0: close() sends a RST, so the client's receive fails with an error
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                      struct.pack("ii", 1, 0))
        handler.close_connection = True
        return True

    internal = tmp_path / "internal"
    args = ["sync", str(internal), "", "--key", keys.alice, "--key", keys.bob,
            "--threshold", "2"]
    with Trickster(upstream.dir, reset_once) as server:
        args[2] = server.url
        assert main(args) == 4
        err = capsys.readouterr().err
        assert "run again to resume" in err or "transfer interrupted" in err
        assert "Traceback" not in err
        assert main(args) == 0
    assert next(internal.glob("pool/*/os-1.0.0.img")).read_bytes() == payload


def test_a_write_that_o_direct_refuses_is_written_buffered(tmp_path):
    # an odd buffer address breaks O_DIRECT's alignment rule: the kernel says EINVAL
    data = os.urandom(3 * ALIGN)
    odd = bytearray(len(data) + 1)
    odd[1:] = data
    target = tmp_path / "payload.partial"
    with AppendFile(target) as file:
        file.write(memoryview(odd)[1:])
        file.write(memoryview(b"tail"))
        file.sync()
        assert file.direct is None  # refused once, buffered from then on
    assert target.read_bytes() == data + b"tail"


class _StallingFile(AppendFile):
    """A real file whose first writes stall, as a busy disk does, while hashing runs on."""

    def __init__(self, path, stalls: int) -> None:
        super().__init__(path)
        self.stalls = stalls

    def write(self, view: memoryview) -> None:
        if self.stalls:
            self.stalls -= 1
            time.sleep(0.05)  # the disk, not a server: nothing to poll for
        super().write(view)


def test_a_slow_disk_never_gets_a_buffer_back_before_it_is_written(tmp_path):
    data = os.urandom(12 * CHUNK + 777)
    source = tmp_path / "payload.img"
    source.write_bytes(data)
    payload = Payload("pool/x/payload.img", len(data), hashlib.sha256(data).hexdigest())
    check = PayloadCheck(payload)
    stream = DirectoryFetcher(tmp_path).open_range("payload.img", 0, len(data))
    target = tmp_path / "payload.partial"
    try:
        with _StallingFile(target, stalls=DEPTH + 2) as file:
            receive(stream, file, check, None)
            file.sync()
    finally:
        stream.close()
    check.finish()  # every byte hashed once, in order
    assert target.read_bytes() == data  # and written once, in order, from intact buffers
