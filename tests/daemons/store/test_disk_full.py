"""A disk that refuses writes: clear errors, reads go on, nothing acknowledged lost.

The store runs under `prlimit --fsize` (RLIMIT_FSIZE), so its files cannot grow past
a limit: the kernel answers EFBIG exactly where a full disk answers ENOSPC. Raising
the limit of the running process is "space returning".
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from corral.testing import StoreServer

from .wire import call

LIMIT = 3 << 20


def test_writes_fail_cleanly_when_the_disk_is_full_and_resume_after(tmp_path: Path) -> None:
    server = StoreServer(tmp_path / "full")
    server.argv = ["prlimit", f"--fsize={LIMIT}:unlimited", *server.argv]
    server.start()
    try:
        acked: dict[str, str] = {}
        failure = None
        for i in range(200):
            value = f"{i:04d}" + "x" * 64_000
            a = call(server.url, "PUT", f"/v2/keys/big/{i}", form={"value": value})
            if a.status >= 300:
                failure = (i, a)
                break
            acked[f"/big/{i}"] = value
        assert failure is not None, "the file size limit was never reached"
        i, answer = failure
        assert answer.status == 500 and answer.json["errorCode"] == 300
        assert "not durable" in answer.json["cause"]
        # memory equals disk: the failed write is not visible, the others are
        assert call(server.url, "GET", f"/v2/keys/big/{i}").status == 404
        for key, value in acked.items():
            assert call(server.url, "GET", "/v2/keys" + key).json["node"]["value"] == value
        subprocess.run(["prlimit", "--pid", str(server.pid), "--fsize=unlimited"], check=True)
        again = call(server.url, "PUT", "/v2/keys/after", form={"value": "space is back"})
        assert again.status == 201, again.body
        server.kill()
        server.argv = server.argv[2:]
        server.start()
        for key, value in acked.items():
            assert call(server.url, "GET", "/v2/keys" + key).json["node"]["value"] == value
        assert call(server.url, "GET", "/v2/keys/after").json["node"]["value"] == "space is back"
        assert call(server.url, "GET", f"/v2/keys/big/{i}").status == 404
    finally:
        server.stop()
    assert "commit of 1 writes failed" in server.log_text()
