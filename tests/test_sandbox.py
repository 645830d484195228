"""The grading kernel's confinement, probed from inside a sandboxed kernel.

A kernel is started through the same kernelspec the autograder writes (ZMQ over IPC; bwrap,
setpriv and prlimit for a cold kernel, a zygote's fork for a warm one); every probe runs
against both, and they are plain Python, so the module runs in seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from autograder.build import REPO_ROOT
from autograder.grade import sandbox, warm
from tests.kernel_util import sandboxed_kernel


@pytest.fixture(scope="module", autouse=True)
def _bwrap_installed() -> None:
    """The sandbox is required: a missing bwrap fails (never skips) with the install hint."""
    if shutil.which("bwrap") is None:
        pytest.fail(sandbox.INSTALL_HINT)


LIMITS = sandbox.SandboxConfig(memory_bytes=2 * sandbox.GiB, max_processes=64,
                                max_file_bytes=1 << 20, cpu_seconds=120)


@pytest.fixture(scope="module", params=["cold", "warm"])
def kernel(request, tmp_path_factory):
    """A running sandboxed kernel (cold: bwrap; warm: forked by a zygote) and a helper that
    runs code and returns its stdout; every probe below runs against both."""
    root = Path(tmp_path_factory.mktemp("sbx", numbered=True))
    made = warm.start(LIMITS, root) if request.param == "warm" else None
    try:
        with sandboxed_kernel(root, LIMITS, zygote_socket=made.socket if made else None) as k:
            yield k.run, k.scratch, k.uid
    finally:
        if made is not None:
            warm.stop(made)


def _probe(run, expr: str) -> str:
    """Run ``expr`` in the kernel and return 'ok' or the exception's class name."""
    code = (f"try:\n    {expr}\n    print('ok')\n"
            "except BaseException as e:\n    print(type(e).__name__)")
    return run(code).strip()


def test_kernel_is_not_root_and_has_no_capabilities(kernel):
    run, _, uid = kernel
    out = run("import os; print(os.getuid(), os.geteuid());"
              "print([l for l in open('/proc/self/status') if l.startswith('CapEff')][0])")
    assert out.splitlines()[0] == f"{uid} {uid}"
    assert out.splitlines()[1].split()[1] == "0000000000000000"


@pytest.mark.parametrize("path", [
    REPO_ROOT / "source",
    REPO_ROOT / "autograder" / "build.py",
    REPO_ROOT / "course_state",
    REPO_ROOT / "nbgrader_config.py",
    Path("/root/.profile"),
    REPO_ROOT.parent / "shared",
])
def test_cannot_read_course_files(kernel, path):
    run, _, _ = kernel
    out = _probe(run, f"import os; os.listdir({str(path)!r}) if os.path.isdir({str(path)!r}) "
                      f"else open({str(path)!r}).read()")
    assert out in ("FileNotFoundError", "PermissionError"), out


def test_sees_only_the_observers_of_the_autograder_package(kernel):
    """No judge, no reference values, no build code: only what records observations."""
    run, _, _ = kernel
    assert run("import autograder, os; print(sorted(os.listdir(autograder.__path__[0])))"
               ).strip() == "['__init__.py', 'observe']"
    assert _probe(run, "import autograder.observe._io") == "ok"
    assert _probe(run, "import autograder.judge") == "ModuleNotFoundError"
    assert _probe(run, "import autograder.build") == "ModuleNotFoundError"


def test_no_network(kernel):
    run, _, _ = kernel
    out = _probe(run, "import socket; socket.create_connection(('1.1.1.1', 80), timeout=3)")
    assert out in ("OSError", "TimeoutError", "ConnectionRefusedError"), out
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    try:
        out = _probe(run, f"import socket; socket.create_connection(('127.0.0.1', {port}), "
                          "timeout=3)")
        assert out != "ok", "the kernel reached a port on the host's loopback"
    finally:
        server.close()


def test_writes_only_to_scratch_and_tmp(kernel):
    run, scratch, _ = kernel
    assert _probe(run, f"open({str(scratch / 'work' / 'x.txt')!r}, 'w').write('x')") == "ok"
    assert _probe(run, "open('/tmp/x.txt', 'w').write('x')") == "ok"
    for target in (REPO_ROOT / "pwned.txt", Path("/usr/pwned.txt"), Path("/pwned.txt"),
                   Path(os.__file__).parent / "pwned.py"):
        out = _probe(run, f"open({str(target)!r}, 'w').write('x')")
        assert out in ("OSError", "PermissionError", "FileNotFoundError"), (target, out)
        assert not target.exists()


def test_resource_limits(kernel):
    run, _, _ = kernel
    limits = json.loads(run(
        "import resource, json; print(json.dumps({n: resource.getrlimit(getattr(resource, n))[0]"
        " for n in ('RLIMIT_AS', 'RLIMIT_NPROC', 'RLIMIT_FSIZE', 'RLIMIT_CPU')}))"))
    assert limits == {"RLIMIT_AS": 2 * sandbox.GiB, "RLIMIT_NPROC": 64,
                      "RLIMIT_FSIZE": 1 << 20, "RLIMIT_CPU": 120}
    # memory: a 3 GiB allocation fails instead of taking the machine down
    assert _probe(run, "b = bytearray(3 << 30)") == "MemoryError"
    # file size: writing past RLIMIT_FSIZE fails
    assert _probe(run, "open('/tmp/big', 'wb').write(b'x' * (2 << 20))") in (
        "OSError", "SystemError")
    # fork bomb: the process count is capped for the kernel's uid
    out = run(
        "import subprocess\nprocs = []\ntry:\n"
        "    for _ in range(200):\n"
        "        procs.append(subprocess.Popen(['sleep', '30']))\n"
        "    print('unlimited')\n"
        "except OSError as e:\n    print('capped', len(procs))\n"
        "finally:\n    [p.kill() for p in procs]\n"
    )
    assert out.startswith("capped"), out


def test_data_files_are_read_only(kernel):
    run, _, _ = kernel
    out = run("import os; d = os.environ.get('TFCOURSE_DATA_DIR'); print(d)")
    assert out.strip() != "None", "data/files is not mounted: run `python -m tfcourse.data fetch`"
    assert _probe(run, "open(os.path.join(d, 'x'), 'w')") in ("OSError", "PermissionError")


def test_missing_bwrap_explains_how_to_install(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install -y bubblewrap"):
        sandbox.find_tools()
