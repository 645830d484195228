"""Warm kernels: a zygote imports TensorFlow once and forks every submission's kernel into a
sandbox of its own.

Importing TensorFlow, Keras, NumPy, pandas and ipykernel costs a grading kernel about 5 s of CPU,
more than the rest of a breast_cancer notebook. A zygote is a fresh process per grading worker
(started by :mod:`autograder.grade.warm`, never forked from the grader, so it holds nothing of
the gradebook, the judge or another submission) that imports those modules and then waits on a
Unix socket in a root-only folder. For each kernel it forks a child that builds the same sandbox
as the cold path's ``bwrap`` + ``setpriv`` + ``prlimit`` (:func:`autograder.grade.sandbox.
kernel_plan` is the one plan both carry out), so the notebook's first cell runs at once:

* C1 (root) unshares the mount, PID, network, IPC, UTS and cgroup namespaces and forks
* C2, PID 1 of the new PID namespace: it mounts a fresh tmpfs root, carries out the plan's
  mounts (read-only binds, ``/proc``, a minimal ``/dev``, the size-capped ``/tmp``, the
  connection file), brings the loopback up as bwrap does, ``pivot_root``s into it, forks the
  kernel, drops every privilege and reaps orphans until the kernel exits;
* C3, the kernel: a new session, stdout/stderr to the scratch's ``kernel.out``, the plan's
  environment only, the submission's uid with no groups and no capabilities (bounding,
  inheritable and ambient sets emptied), ``no_new_privs``, the rlimits, the same seccomp filter,
  then ``python -m ipykernel_launcher`` run in-process.

Each kernel is a new process in new namespaces with its own tmpfs root, scratch and uid: nothing
is shared between submissions but the zygote's memory as it was after the imports (copy on
write). The zygote reads no secret: the connection file reaches C2 as an open file descriptor.
Killing the client (the kernelspec's process) kills the kernel: the zygote SIGKILLs C1, C2 has
``PDEATHSIG`` set to SIGKILL, and the death of PID 1 ends the whole namespace.

This file is stdlib-only at the top: ``python -I -S zygote.py kernel ...`` is the kernelspec's
argv (a client that hands the request and the two files to the zygote and exits with the
kernel's status) and ``python zygote.py serve SOCKET ROOT`` is the zygote.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import select
import selectors
import signal
import socket
import struct
import sys

WARM_MODULES = ("tensorflow", "keras", "numpy", "pandas", "IPython", "ipykernel.kernelapp",
                "ipykernel.ipkernel", "ipykernel.zmqshell")
READY = b"zygote ready\n"
MAX_REQUEST = 1 << 20

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_SLAVE = 4096, 16384, 1 << 19
MNT_DETACH, AT_FDCWD, AT_RECURSIVE = 2, -100, 0x8000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 1, 2, 4
PR_SET_PDEATHSIG, PR_SET_SECCOMP, PR_CAPBSET_DROP = 1, 22, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
SECCOMP_MODE_FILTER = 2
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
_SYSCALLS = {"x86_64": {"pivot_root": 155, "mount_setattr": 442, "capset": 126},
             "aarch64": {"pivot_root": 41, "mount_setattr": 442, "capset": 91}}
RLIMITS = {"CPU": "RLIMIT_CPU", "AS": "RLIMIT_AS", "NPROC": "RLIMIT_NPROC",
           "FSIZE": "RLIMIT_FSIZE", "NOFILE": "RLIMIT_NOFILE", "CORE": "RLIMIT_CORE"}
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {"stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "fd": "/proc/self/fd", "core": "/proc/kcore",
             "ptmx": "pts/ptmx"}
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus")

_libc = ctypes.CDLL(None, use_errno=True)


class ZygoteError(RuntimeError):
    """A step of building a kernel's sandbox failed (the kernel is not started)."""


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


class _SockFilter(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result: int, what: str) -> int:
    if result == -1:
        err = ctypes.get_errno()
        raise ZygoteError(f"{what}: {os.strerror(err)} (errno {err})")
    return result


def _b(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def _syscall(name: str, *args: object) -> int:
    return _libc.syscall(_SYSCALLS[platform.machine()][name], *args)


def _mount(src: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    _check(_libc.mount(_b(src), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)),
           f"mount {src or fstype} on {target}")


def _set_attrs(target: str, attrs: int) -> None:
    """Set mount attributes on ``target`` and every mount below it (``mount_setattr``)."""
    attr = _MountAttr(attrs, 0, 0, 0)
    _check(_syscall("mount_setattr", AT_FDCWD, _b(target), AT_RECURSIVE, ctypes.byref(attr),
                    ctypes.sizeof(attr)), f"mount_setattr {target}")


def _prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), 0, 0),
           f"prctl {option}")


# -- C2: the kernel's filesystem ---------------------------------------------------------------
def _parents(path: str, root: str) -> None:
    parent = os.path.dirname(path.rstrip("/"))
    if parent and not os.path.isdir(root + parent):
        _parents(parent, root)
        os.mkdir(root + parent, 0o755)
        os.chmod(root + parent, 0o755)


def _make_target(root: str, dest: str, is_dir: bool) -> str:
    _parents(dest, root)
    target = root + dest
    if not os.path.lexists(target):
        if is_dir:
            os.mkdir(target, 0o755)
        else:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444))
    return target


def _bind(root: str, src: str, dest: str, attrs: int) -> None:
    target = _make_target(root, dest, os.path.isdir(src))
    _mount(src, target, None, MS_BIND | MS_REC)
    _set_attrs(target, attrs)


def _dev(root: str, dest: str) -> None:
    target = _make_target(root, dest, True)
    _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for name in DEV_NODES:
        if os.path.exists(f"/dev/{name}"):
            node = _make_target(root, f"{dest}/{name}", False)
            _mount(f"/dev/{name}", node, None, MS_BIND)
            _set_attrs(node, MOUNT_ATTR_NOSUID)
    for name in ("shm", "pts"):
        os.mkdir(f"{target}/{name}", 0o755)
    _mount("devpts", f"{target}/pts", "devpts", MS_NOSUID | MS_NOEXEC,
           "newinstance,ptmxmode=0666,mode=620")
    for name, link in DEV_LINKS.items():
        os.symlink(link, f"{target}/{name}")


def _proc(root: str, dest: str) -> None:
    target = _make_target(root, dest, True)
    _mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name in PROC_READ_ONLY:  # as bwrap: the host-global knobs stay read-only
        path = f"{target}/{name}"
        if not os.access(path, os.W_OK):  # bwrap's rule: what root cannot write is left
            continue
        if os.path.exists(path):
            _mount(path, path, None, MS_BIND | MS_REC)
            _set_attrs(path, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)


def build_root(root: str, mounts: list[dict], connection: bytes) -> None:
    """Carry out the plan's mounts in a fresh tmpfs at ``root`` (as bwrap would)."""
    _mount("tfg-root", root, "tmpfs", MS_NOSUID | MS_NODEV)
    os.chmod(root, 0o755)
    for m in mounts:
        op, dest, src, mode = m["op"], m["dest"], m.get("src", ""), m.get("mode")
        if op == "ro-bind":
            _bind(root, src, dest, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
        elif op == "bind":
            _bind(root, src, dest, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
        elif op == "dir":  # as bwrap: an existing folder keeps its mode
            if not os.path.lexists(root + dest):
                os.chmod(_make_target(root, dest, True), 0o755 if mode is None else mode)
        elif op == "symlink":
            _parents(dest, root)
            os.symlink(src, root + dest)
        elif op == "proc":
            _proc(root, dest)
        elif op == "dev":
            _dev(root, dest)
        elif op == "tmpfs":
            target = _make_target(root, dest, True)
            options = f"mode={0o755 if mode is None else mode:o}"
            options += f",size={int(m['size'])}" if m.get("size") else ""
            _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)
        elif op == "ro-bind-data":
            _parents(dest, root)
            fd = os.open(root + dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, connection)
            finally:
                os.close(fd)
            os.chmod(root + dest, 0o444 if mode is None else mode)
            _mount(root + dest, root + dest, None, MS_BIND)
            _set_attrs(root + dest, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)
        else:
            raise ZygoteError(f"unknown mount step {op!r}")
    os.chdir(root)
    _check(_syscall("pivot_root", b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the old root")
    os.chdir("/")


def loopback_up() -> None:
    """Bring ``lo`` up in the new network namespace (bwrap does; it gets 127.0.0.1 and ::1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        import fcntl

        request = struct.pack("16sh22x", b"lo", 0)
        flags = struct.unpack("16sh22x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sh22x", b"lo", flags | IFF_UP))


# -- C3: privileges ----------------------------------------------------------------------------
def drop_privileges(uid: int, rlimits: dict[str, int], seccomp: bytes, last_cap: int) -> None:
    """setpriv --reuid/--regid --clear-groups --inh-caps=-all --bounding-set=-all
    --no-new-privs, then prlimit's limits and the seccomp filter (bwrap --seccomp)."""
    import resource

    for name, value in rlimits.items():
        limit = getattr(resource, RLIMITS[name])
        resource.setrlimit(limit, (int(value), int(value)))
    for cap in range(last_cap + 1):
        _prctl(PR_CAPBSET_DROP, cap)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to a non-zero uid: permitted and effective go
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = bytes(24)  # effective, permitted, inheritable: empty (two 32-bit words each)
    _check(_syscall("capset", header, data), "capset")
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    program = ctypes.create_string_buffer(seccomp, len(seccomp))
    fprog = _SockFilter(len(seccomp) // 8, ctypes.cast(program, ctypes.c_void_p))
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0),
           "seccomp")


def _close_fds(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _c1(request: dict, conn_fd: int, out_fd: int, zygote: int) -> None:
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != zygote:
        os._exit(1)
    _close_fds({conn_fd, out_fd})
    os.dup2(out_fd, 1)  # as the cold path's bwrap: what goes wrong is in kernel.out
    os.dup2(out_fd, 2)
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    if _libc.unshare(flags | CLONE_NEWCGROUP) == -1:  # bwrap --unshare-cgroup-try
        _check(_libc.unshare(flags), "unshare")
    _mount(None, "/", None, MS_SLAVE | MS_REC)  # nothing propagates back to the host
    alive_r, alive_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(alive_w)
        _run_child(_c2, request, conn_fd, out_fd, alive_r)
    os.close(alive_r)
    os.close(conn_fd)
    os.close(out_fd)
    _, status = os.waitpid(pid, 0)
    os._exit(_exit_code(status))


def _c2(request: dict, conn_fd: int, out_fd: int, alive_r: int) -> None:
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if select.select([alive_r], [], [], 0)[0]:  # C1 died before PDEATHSIG was set
        os._exit(1)
    with open("/proc/sys/kernel/cap_last_cap") as fh:
        last_cap = int(fh.read())
    connection = b""
    while chunk := os.read(conn_fd, 1 << 16):
        connection += chunk
    os.close(conn_fd)
    loopback_up()
    build_root(request["root"], request["mounts"], connection)
    del connection
    seccomp = bytes.fromhex(request["seccomp"])
    os.setsid()  # bwrap --new-session: the kernel is in PID 1's session
    pid = os.fork()
    if pid == 0:
        os.close(alive_r)
        _run_child(_c3, request, out_fd, last_cap, seccomp)
    os.close(out_fd)
    drop_privileges(int(request["uid"]), {}, seccomp, last_cap)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a change of uid cleared it
    if select.select([alive_r], [], [], 0)[0]:
        os._exit(1)
    while True:  # PID 1: reap every orphan; leave with the kernel's status
        try:
            child, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        if child == pid:
            os._exit(_exit_code(status))


def _c3(request: dict, out_fd: int, last_cap: int, seccomp: bytes) -> None:
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    _close_fds(set())
    os.environ.clear()
    os.environ.update(request["env"])
    drop_privileges(int(request["uid"]), request["rlimits"], seccomp, last_cap)
    os.chdir(request["chdir"])
    os.environ["PWD"] = request["chdir"]  # as bwrap --chdir
    _fresh_interpreter(request)
    if request.get("probe"):
        os._exit(0)
    import runpy

    sys.argv = ["ipykernel_launcher", *request["argv"]]
    code = 0
    try:
        runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001, S110 (the process ends anyway)
                pass
    os._exit(code)


def _fresh_interpreter(request: dict) -> None:
    """What ``python -m ipykernel_launcher`` in the plan's environment would have set up
    itself: ``sys.path`` (working folder, PYTHONPATH, then the interpreter's own), a NumPy
    global generator seeded from fresh entropy (``random`` reseeds itself after ``fork``),
    Keras' home folder under the new ``HOME``, default signal handling, and none of this
    module."""
    own = [p for p in sys.path[1:] if p]
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [os.getcwd(), *extra, *[p for p in own if p not in extra]]
    sys.dont_write_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    import tempfile

    tempfile.tempdir = None
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    config = sys.modules.get("keras.src.backend.config")
    if config is not None:
        _keras_home(config)


def _keras_home(config: object) -> None:
    """Keras' import-time home folder and ``keras.json`` (keras/src/backend/config.py), now
    under the kernel's own ``HOME``."""
    if "KERAS_HOME" in os.environ:
        home = os.environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    config._KERAS_DIR = home  # type: ignore[attr-defined]
    try:
        os.makedirs(home, exist_ok=True)
        path = os.path.join(home, "keras.json")
        if not os.path.exists(path):
            with open(path, "w") as fh:
                fh.write(json.dumps({
                    "floatx": config.floatx(), "epsilon": config.epsilon(),  # type: ignore
                    "backend": config.backend(),  # type: ignore[attr-defined]
                    "image_data_format": config.image_data_format(),  # type: ignore
                }, indent=4))
    except OSError:  # as Keras: a read-only home is fine
        pass


def _run_child(step: object, *args: object) -> None:
    """Run one stage of a forked child; it never returns to the zygote's loop."""
    try:
        step(*args)  # type: ignore[operator]
    except BaseException as exc:  # noqa: BLE001
        try:
            os.write(2, f"zygote: {type(exc).__name__}: {exc}\n".encode())
        except OSError:
            pass
        os._exit(127)
    os._exit(0)


# -- the zygote's loop -------------------------------------------------------------------------
def serve(path: str, root: str) -> None:
    """Import the warm modules, listen on ``path`` and fork one kernel per request; each
    kernel's tmpfs root is mounted on the empty folder ``root`` in its own mount namespace."""
    # the zygote ends with the grading *process* that started it (PR_SET_PDEATHSIG would
    # follow the starting thread, and a Dask worker's task threads come and go)
    parent = os.pidfd_open(os.getppid())
    for name in WARM_MODULES:
        __import__(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(64)
    sys.stdout.flush()
    os.write(1, READY)
    os.dup2(2, 1)  # stdout was the grader's pipe: from now on it is the zygote's log
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    sel.register(parent, selectors.EVENT_READ, "parent")
    me = os.getpid()
    while True:
        for key, _ in sel.select():
            kind = key.data
            if kind == "parent":  # the grader is gone: so are its kernels (C1's PDEATHSIG)
                return
            if kind is None:
                _accept(listener, sel, me, root)
            elif kind[0] == "exit":  # C1 ended: tell the client the kernel's status
                _, client, pid, pidfd = kind
                _, status = os.waitpid(pid, 0)
                sel.unregister(pidfd)
                os.close(pidfd)
                try:
                    client.send(json.dumps({"exit": _exit_code(status)}).encode())
                except OSError:
                    pass
                _forget(sel, client)
            else:  # the client hung up (or was killed): kill the kernel's namespace
                _, client, pid, pidfd = kind
                try:
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _forget(sel, client)


def _forget(sel: selectors.BaseSelector, client: socket.socket) -> None:
    try:
        sel.unregister(client)
    except (KeyError, ValueError):
        pass
    client.close()


def _accept(listener: socket.socket, sel: selectors.BaseSelector, me: int, root: str) -> None:
    client, _ = listener.accept()
    fds: list[int] = []
    try:
        creds = client.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        if struct.unpack("3i", creds)[1] != 0:
            raise ZygoteError("only root may start kernels")
        message, fds, _, _ = socket.recv_fds(client, MAX_REQUEST, 2)
        if len(fds) != 2:
            raise ZygoteError("a request carries the connection file and the output file")
        request = json.loads(message)
        request["root"] = root
    except (OSError, ValueError, ZygoteError) as exc:
        for fd in fds:
            os.close(fd)
        try:
            client.send(json.dumps({"exit": 126, "error": str(exc)}).encode())
        except OSError:
            pass
        client.close()
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _run_child(_c1, request, fds[0], fds[1], me)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    sel.register(pidfd, selectors.EVENT_READ, ("exit", client, pid, pidfd))
    sel.register(client, selectors.EVENT_READ, ("hangup", client, pid, pidfd))


# -- the kernelspec's client -------------------------------------------------------------------
def client(path: str, request_file: str, connection_file: str, out_file: str,
           extra: list[str]) -> int:
    """Hand one kernel request to the zygote at ``path``; return the kernel's exit status."""
    with open(request_file) as fh:
        request = json.load(fh)
    request["argv"] = [*request["argv"], *extra]
    conn = os.open(connection_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    out = os.open(out_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
                  | os.O_CLOEXEC, 0o644)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.connect(path)
        socket.send_fds(sock, [json.dumps(request).encode()], [conn, out])
    finally:
        os.close(conn)
        os.close(out)
    reply = sock.recv(4096)  # blocks while the kernel runs
    if not reply:
        sys.stderr.write("zygote: the zygote stopped before the kernel did\n")
        return 125
    status = json.loads(reply)
    if status.get("error"):
        sys.stderr.write(f"zygote: {status['error']}\n")
    return int(status["exit"])


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "serve":
        serve(argv[1], argv[2])
        return 0
    if len(argv) >= 5 and argv[0] == "kernel":
        return client(argv[1], argv[2], argv[3], argv[4], argv[5:])
    sys.stderr.write("usage: zygote.py serve SOCKET ROOT | "
                     "kernel SOCKET REQUEST CONN OUT [ARGS]\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
