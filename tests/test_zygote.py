"""Warm kernels (issue 13): a zygote forks each kernel into a sandbox equal to bwrap's.

The confinement probes of tests/test_sandbox.py run against warm kernels too; this module
checks what is specific to the zygote: the forked kernel sees exactly what a cold one sees
(mounts and their options, modes, credentials, capabilities, seccomp, limits, namespaces,
environment, ``sys.path``, devices), two kernels of one zygote share nothing, killing the
kernelspec's process ends the kernel's whole namespace, and a bad request costs one kernel,
never the zygote.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

import pytest

from autograder.grade import sandbox, warm, zygote
from tests.kernel_util import sandboxed_kernel

LIMITS = sandbox.SandboxConfig(memory_bytes=4 * sandbox.GiB, max_processes=64,
                                max_file_bytes=1 << 20, cpu_seconds=120)

FINGERPRINT = r'''
import json as _j, os as _o, resource as _r, sys as _s
def _status():
    keep = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
            "NoNewPrivs", "Seccomp", "Seccomp_filters")
    return {k: v.strip() for k, v in (l.split(":", 1) for l in open("/proc/self/status"))
            if k in keep}
def _mounts():
    out = []
    for line in open("/proc/self/mountinfo"):
        f = line.split()
        i = f.index("-")
        opts = [o for o in f[i + 3].split(",") if not o.startswith(("nr_inodes=", "inode64"))]
        out.append([f[4], f[5], f[i + 1], ",".join(opts)])
    return sorted(out)
_paths = ("/", "/sbx", "/sbx/site", "/sbx/connection.json", "/etc", "/etc/passwd", "/tmp",
          "/dev", "/dev/shm", "/dev/pts", "/dev/null", "/proc/sys", "/usr", _o.getcwd(),
          _o.environ["HOME"], _o.environ["JUPYTER_RUNTIME_DIR"])
print("FP" + _j.dumps({
    "status": _status(), "pid": _o.getpid(), "ppid": _o.getppid(), "pgid": _o.getpgid(0),
    "sid": _o.getsid(0), "cwd": _o.getcwd(), "sys.path": _s.path, "env": dict(_o.environ),
    "argv": _s.argv[1:], "flags": repr(_s.flags), "dont_write_bytecode": _s.dont_write_bytecode,
    "rlimits": {n: _r.getrlimit(getattr(_r, n)) for n in
                ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_NOFILE",
                 "RLIMIT_CORE")},
    "mounts": _mounts(), "net": open("/proc/net/dev").read().split("\n", 2)[2],
    "net_if_inet6": open("/proc/net/if_inet6").read(), "hostname": _o.uname().nodename,
    "ls": {p: sorted(_o.listdir(p)) for p in ("/", "/sbx", "/etc", "/dev", "/tmp")},
    "procs": sorted(p for p in _o.listdir("/proc") if p.isdigit()),
    "modes": {p: oct(_o.lstat(p).st_mode) for p in _paths},
    "owners": {p: (_o.lstat(p).st_uid, _o.lstat(p).st_gid) for p in _paths},
    "writable": {p: _o.access(p, _o.W_OK) for p in _paths},
    "umask": _o.umask(0o22), "fds": sorted(_o.listdir("/proc/self/fd")),
    "user_ns": sorted(k for k in get_ipython().user_ns if not k.startswith("_")),
}, sort_keys=True))
'''


def _fingerprint(kernel) -> dict:
    out = kernel.run(FINGERPRINT)
    assert "FP" in out, out
    text = out.split("FP", 1)[1].splitlines()[0]
    # the kernel's folder and uid differ between any two kernels, warm or cold
    text = text.replace(str(kernel.scratch), "<scratch>")
    text = re.sub(rf"\b{kernel.uid}\b", "424242424", text)  # stays valid JSON
    return json.loads(text)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    z = warm.start(LIMITS, Path(tmp_path_factory.mktemp("zyg", numbered=True)))
    yield z
    warm.stop(z)


def test_a_warm_kernel_sees_exactly_what_a_cold_one_sees(made, tmp_path):
    with sandboxed_kernel(tmp_path / "cold", LIMITS) as kernel:
        cold = _fingerprint(kernel)
    with sandboxed_kernel(tmp_path / "warm", LIMITS, zygote_socket=made.socket) as kernel:
        hot = _fingerprint(kernel)
    # Keras writes ~/.keras/keras.json when imported: the warm kernel has imported it
    assert hot["ls"] == cold["ls"]
    differ = sorted(key for key in cold if cold[key] != hot.get(key))
    assert not differ, {key: (cold[key], hot.get(key)) for key in differ}
    assert cold["status"]["CapEff"] == "0000000000000000"
    assert cold["status"]["NoNewPrivs"] == "1" and cold["status"]["Seccomp"] == "2"
    assert cold["procs"] == ["1", "2"] and cold["pid"] == 2


def test_a_warm_kernel_starts_with_the_modules_imported(made, tmp_path):
    with sandboxed_kernel(tmp_path / "w", LIMITS, zygote_socket=made.socket) as kernel:
        start = time.monotonic()
        out = kernel.run("import sys; print(sorted(m for m in ('tensorflow', 'keras', 'pandas')"
                         " if m in sys.modules))\nimport tensorflow as tf, numpy as np\n"
                         "print(float(tf.reduce_sum(tf.ones(3))))")
        seconds = time.monotonic() - start
    assert out.split() == ["['keras',", "'pandas',", "'tensorflow']", "3.0"], out
    assert seconds < 3, f"importing TensorFlow in a warm kernel took {seconds:.1f} s"


def test_two_kernels_of_one_zygote_share_nothing(made, tmp_path):
    with sandboxed_kernel(tmp_path / "a", LIMITS, slot=1, zygote_socket=made.socket) as a, \
            sandboxed_kernel(tmp_path / "b", LIMITS, slot=2, zygote_socket=made.socket) as b:
        a.run("open('/tmp/left-by-a', 'w').write('a')")
        assert b.run("import os; print(os.path.exists('/tmp/left-by-a'))").strip() == "False"
        assert b.run("import os; print(sorted(p for p in os.listdir('/proc') if p.isdigit()))"
                     ).strip() == "['1', '2']"
        assert str(a.scratch) not in b.run("print(open('/proc/self/mountinfo').read())")
        draws = [k.run("import numpy as np; print(np.random.rand())").strip() for k in (a, b)]
        assert draws[0] != draws[1], "NumPy's global generator was not reseeded after the fork"


def _processes_of(uid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            status = Path(f"/proc/{name}/status").read_text()
        except OSError:
            continue
        line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        if int(line.split()[1]) == uid:
            found.append(int(name))
    return found


def test_killing_the_launcher_ends_the_kernel_and_its_children(made, tmp_path):
    with sandboxed_kernel(tmp_path / "k", LIMITS, slot=3, zygote_socket=made.socket) as kernel:
        kernel.run("import subprocess; p = subprocess.Popen(['sleep', '300'])")
        assert len(_processes_of(kernel.uid)) >= 2  # the kernel and its sleep
        kernel.km.provisioner.process.kill()  # SIGKILL to the kernelspec process (client)
        deadline = time.monotonic() + 10
        while _processes_of(kernel.uid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _processes_of(kernel.uid) == []
    # the zygote still serves kernels
    with sandboxed_kernel(tmp_path / "k2", LIMITS, slot=3, zygote_socket=made.socket) as kernel:
        assert kernel.run("print(6 * 7)").strip() == "42"


def test_a_bad_request_costs_one_kernel_not_the_zygote(made, tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.connect(str(made.socket))
    sock.send(b"not json and no files")
    reply = json.loads(sock.recv(4096))
    sock.close()
    assert reply["exit"] == 126 and "connection file" in reply["error"]
    # a request whose bind source does not exist: that kernel fails with the reason
    scratch = tmp_path / "s"
    for sub in ("home", "work", "rt"):
        (scratch / sub).mkdir(parents=True)
    plan = sandbox.kernel_plan(scratch, tmp_path / "no-such-site", sandbox.sandbox_uid(4),
                               LIMITS)
    (tmp_path / "request.json").write_text(json.dumps(plan.to_dict() | {"probe": True}))
    (tmp_path / "conn.json").write_text("{}")
    code = zygote.client(str(made.socket), str(tmp_path / "request.json"),
                         str(tmp_path / "conn.json"), str(tmp_path / "out"), [])
    assert code == 127
    assert "no-such-site" in (tmp_path / "out").read_text()
    assert made.alive()


def test_only_root_reaches_the_zygote(made):
    assert (made.folder.stat().st_mode & 0o777) == 0o700
    assert (made.socket.stat().st_mode & 0o777) == 0o600
    # an unprivileged process cannot even reach the socket
    probe = ("import socket, sys; s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n"
             f"try:\n    s.connect({str(made.socket)!r}); print('connected')\n"
             "except OSError as e:\n    print(type(e).__name__)")
    import subprocess
    import sys

    out = subprocess.run(["setpriv", "--reuid=54321", "--regid=54321", "--clear-groups",
                          sys.executable, "-I", "-S", "-c", probe],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "PermissionError", out


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status and "\nState:\tX" not in status


def test_a_zygote_ends_with_its_grading_process(tmp_path):
    """Killed grader (SIGKILL: no atexit, no cleanup): its zygote stops by itself."""
    import subprocess
    import sys

    from autograder.build import REPO_ROOT

    code = ("import time; from pathlib import Path\n"
            "from autograder.grade import sandbox, warm\n"
            f"z = warm.start(sandbox.SandboxConfig(), Path({str(tmp_path)!r}))\n"
            "print(z.proc.pid, flush=True); time.sleep(600)")
    grader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              cwd=REPO_ROOT)
    try:
        pid = int(grader.stdout.readline())
        assert _running(pid)
    finally:
        grader.kill()
        grader.wait()
    deadline = time.monotonic() + 10
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(pid), "the zygote outlived its grading process"
