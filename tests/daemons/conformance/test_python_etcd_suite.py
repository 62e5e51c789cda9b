"""A real client's own tests: python-etcd 0.4.5's integration suite, run unchanged
against etcd 3.4 and against each store implementation, each freshly started.

The suite ships inside the python-etcd package (a test dependency). It starts its
own etcd cluster on ports 6001-6003; a small pytest plugin turns that helper into
no-ops and the copy's port 6001 is rewritten to the server under test, which is how
its authors' tests point at an already running server. It imports `nose` and
`OpenSSL` only for a test-marking decorator and for its TLS helper, which the plain
tests never call; the plugin stubs both so that nothing is installed for them.

Left out: TestClusterFunctions kills and restarts members of the 3-node cluster the
suite would have started, which one already running server cannot play; test_ssl
needs TLS certificates made with pyOpenSSL.

The store must pass every test etcd passes.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.testing import ManagedProcess

from .servers import IMPLEMENTATIONS, Implementation, start_reference

pytestmark = pytest.mark.etcd

SUITE_FILES = ("__init__.py", "helpers.py", "test_simple.py")
LEFT_OUT = "not TestClusterFunctions"

PLUGIN = '''
"""Point python-etcd's integration tests at an already running server."""
import sys
import types

nose = types.ModuleType("nose")
nose_tools = types.ModuleType("nose.tools")


def nottest(func):
    func.__test__ = False
    return func


nose_tools.nottest = nottest
nose.tools = nose_tools
sys.modules.setdefault("nose", nose)
sys.modules.setdefault("nose.tools", nose_tools)
openssl = types.ModuleType("OpenSSL")
openssl.crypto = types.ModuleType("OpenSSL.crypto")
sys.modules.setdefault("OpenSSL", openssl)
sys.modules.setdefault("OpenSSL.crypto", openssl.crypto)

from pyetcd_integration import helpers  # noqa: E402

helpers.EtcdProcessHelper.run = lambda self, *a, **k: None
helpers.EtcdProcessHelper.stop = lambda self, *a, **k: None
helpers.EtcdProcessHelper.add_one = lambda self, *a, **k: None
'''


def copy_suite(target: Path, port: int) -> Path:
    """python-etcd's integration tests as a package in `target`, aimed at `port`."""
    spec = importlib.util.find_spec("etcd")
    assert spec is not None and spec.submodule_search_locations, "python-etcd not installed"
    source = Path(next(iter(spec.submodule_search_locations))) / "tests" / "integration"
    package = target / "pyetcd_integration"
    package.mkdir(parents=True)
    for name in SUITE_FILES:
        text = (source / name).read_text()
        (package / name).write_text(text.replace("6001", str(port)))
    (target / "conftest.py").write_text(PLUGIN)
    return target


def outcomes(server: ManagedProcess, workdir: Path) -> dict[str, str]:
    """Run the suite against `server`; each test's outcome: passed, failed or error."""
    url = getattr(server, "url", "")
    port = int(url.rsplit(":", 1)[1])
    suite = copy_suite(workdir / "suite", port)
    report = workdir / "report.xml"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", LEFT_OUT,
         f"--junitxml={report}", "-o", "addopts=", "--rootdir", str(suite), str(suite)],
        cwd=suite, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert report.exists(), f"the suite did not run:\n{done.stdout}\n{done.stderr}"
    results: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        results[name] = "failed" if failed else "skipped" if skipped else "passed"
    return results


@pytest.fixture(scope="module")
def etcd_outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    workdir = tmp_path_factory.mktemp("python-etcd-on-etcd")
    server = start_reference(workdir)
    try:
        return outcomes(server, workdir)
    finally:
        server.stop()


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda i: i.name)
def store_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ManagedProcess]:
    chosen: Implementation = request.param
    server = chosen.start(tmp_path / "server")
    try:
        yield server
    finally:
        server.stop()


def test_python_etcd_suite_passes_as_on_etcd(
    etcd_outcomes: dict[str, str], store_server: ManagedProcess, tmp_path: Path
):
    passed_on_etcd = {name for name, result in etcd_outcomes.items() if result == "passed"}
    assert len(passed_on_etcd) >= 10, f"the suite hardly ran on etcd: {etcd_outcomes}"
    ours = outcomes(store_server, tmp_path)
    lost = sorted(name for name in passed_on_etcd if ours.get(name) != "passed")
    assert not lost, f"pass on etcd, not on ours: {lost}\n{store_server.log_tail()}"
