"""Confine the grading kernel: bubblewrap + setpriv + prlimit behind a ``python3`` kernelspec.

nbgrader restores the hidden tests into the notebook before executing it, and the gradebook
holds them, so sandboxing the grader protects nothing: the *kernel* (the only process that runs
student code) is what is confined. Each submission gets a kernelspec named ``python3`` (found
first through ``JUPYTER_PATH``) whose argv is::

    sh -c 'exec "$@" 3<"$conn"' sh {connection_file} \\
        bwrap --unshare-ipc --unshare-pid --unshare-net --unshare-uts --unshare-cgroup-try \\
              --die-with-parent --new-session --clearenv ... (read-only binds) \\
              --ro-bind-data 3 /sbx/connection.json --cap-add CAP_SETUID,CAP_SETGID -- \\
        setpriv --reuid=UID --regid=UID --clear-groups --bounding-set=-all --no-new-privs \\
        prlimit --cpu=... --as=... --nproc=... --fsize=... --nofile=... -- \\
        python -m ipykernel_launcher -f /sbx/connection.json

* no network: a fresh network namespace holds only a down loopback; the kernel talks to the
  grader over ZMQ **IPC** sockets (files in the submission's runtime folder, bind-mounted
  read-write), which cross a network namespace where TCP loopback does not;
* the filesystem is empty except read-only binds of /usr, a minimal /etc, the interpreter
  (venv + base prefix), a site folder holding only ``tfcourse`` and ``autograder.observe``, and
  the data files; the repo, ``source/``, ``course_state/`` and the gradebook are not mounted;
* the only writable places are the submission's scratch folder and a private tmpfs /tmp, both
  size-limited filesystems (the scratch is a tmpfs root mounts with ``size=``; /tmp is bwrap's
  ``--size`` tmpfs);
* the kernel runs as an unprivileged uid with no capabilities (so RLIMIT_NPROC applies; root
  would bypass it) under CPU-time, address-space, process-count and file-size limits, and a
  seccomp filter (:data:`BLOCKED_SYSCALLS`) refuses the kernel keyring and other host-global
  facilities with EPERM.

Root never follows a student's path: side files are copied into the scratch without following
symlinks (special files and symlinks are skipped), the scratch's top folder is root's so the
kernel cannot rename ``home/``, ``work/`` or ``rt/`` and put a symlink in their place, and the
kernel's raw stdout/stderr go to a file inside the (quota-bounded) scratch, not to a log.

bwrap runs as root *without* a user namespace (mounting needs it); the kernel's uid is set by
setpriv, which drops the two capabilities bwrap kept for it.

:func:`kernel_plan` is the one description of this sandbox. A cold kernel renders it as the
argv above (:func:`bwrap_args`); a warm kernel is forked by a zygote that carries out the same
plan itself (:mod:`autograder.grade.zygote`), with TensorFlow already imported.
"""

from __future__ import annotations

import atexit
import errno
import json
import os
import platform
import shutil
import stat
import struct
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from autograder.build import REPO_ROOT

INSTALL_HINT = (
    "bubblewrap (bwrap) is required to confine student kernels. Install it with\n"
    "    apt-get install -y bubblewrap\n"
    "(or your distribution's 'bubblewrap' package), or pass --no-sandbox to grade WITHOUT "
    "confinement (only for trusted notebooks)."
)
SANDBOX_MOUNT = "/sbx"  # inside the sandbox: site/, data/, tfds/, connection.json
GiB = 1 << 30
MiB = 1 << 20
KERNEL_OUT = "kernel.out"  # the kernel's raw stdout/stderr, inside its scratch (quota-bounded)


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be used on this machine; the message says how to fix it."""


@dataclass(frozen=True)
class SandboxConfig:
    """Resource limits of one grading kernel (all configurable from the CLI)."""

    cpu_seconds: int = 900  # RLIMIT_CPU of the kernel (all its threads)
    memory_bytes: int = 6 * GiB  # RLIMIT_AS (TensorFlow imports and trains under 2 GiB)
    max_processes: int = 512  # RLIMIT_NPROC for the kernel's uid (threads count too)
    max_file_bytes: int = 256 << 20  # RLIMIT_FSIZE: largest file the kernel may write
    max_open_files: int = 1024  # RLIMIT_NOFILE
    threads: int = 0  # TF intra-op threads (0: let TensorFlow decide)
    tmp_bytes: int = 512 * MiB  # size of the kernel's private tmpfs /tmp
    scratch_bytes: int = 1 * GiB  # size of the scratch tmpfs (home, cwd with side files, rt)
    max_output_bytes: int = 32 * MiB  # outputs kept per notebook (autograder.grade.output_cap)

    def to_dict(self) -> dict:
        return asdict(self)


def find_tools() -> dict[str, str]:
    """Paths of bwrap, setpriv and prlimit; raise :class:`SandboxUnavailable` if one is missing."""
    tools = {name: shutil.which(name) for name in ("bwrap", "setpriv", "prlimit")}
    missing = [name for name, path in tools.items() if not path]
    if "bwrap" in missing:
        raise SandboxUnavailable(INSTALL_HINT)
    if missing:
        raise SandboxUnavailable(
            f"{', '.join(missing)} not found (package util-linux); install it or pass "
            "--no-sandbox."
        )
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "the sandbox runs bwrap as root so that the kernel can be moved to an unprivileged "
            "uid (RLIMIT_NPROC does not apply to root); run the grader as root (e.g. in the "
            "course container) or pass --no-sandbox."
        )
    return {k: str(v) for k, v in tools.items()}


def check_available() -> None:
    """Run a trivial command in the sandbox (with the seccomp filter); raise
    :class:`SandboxUnavailable` on failure."""
    tools = find_tools()
    program = seccomp_program()
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, program)  # a few hundred bytes: fits in the pipe buffer
        os.close(write_fd)
        cmd = [tools["bwrap"], *_namespace_args(), *bwrap_args(_base_binds(16 * MiB)),
               "--seccomp", str(read_fd), "--", "/bin/true"]
        proc = subprocess.run(cmd, capture_output=True, text=True, pass_fds=(read_fd,))
    finally:
        os.close(read_fd)
    if proc.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap is installed but cannot create a sandbox here: {proc.stderr.strip()}\n"
            "It needs CAP_SYS_ADMIN (root in a privileged container or on the host)."
        )


# -- seccomp: syscalls refused inside the sandbox ---------------------------------------------
# Host-global kernel facilities a confined kernel has no use for. The keyring is the one seen
# used as a channel between submissions (the user keyring outlives the kernel); the others are
# either not namespaced, or kernel attack surface. Each returns EPERM; non-native ABIs (x32,
# i386 via int 0x80) are refused entirely; clone3 returns ENOSYS (libc falls back to clone,
# whose namespace flags the filter can inspect) and clone with a CLONE_NEW* flag gets EPERM.
BLOCKED_SYSCALLS: dict[str, str] = {
    "add_key": "kernel keyring", "request_key": "kernel keyring", "keyctl": "kernel keyring",
    "unshare": "new namespaces", "setns": "joining namespaces",
    "mount": "mounts", "umount2": "mounts", "pivot_root": "mounts", "open_tree": "mounts",
    "move_mount": "mounts", "fsopen": "mounts", "fsconfig": "mounts", "fsmount": "mounts",
    "fspick": "mounts", "mount_setattr": "mounts",
    "bpf": "eBPF", "perf_event_open": "performance counters", "userfaultfd": "userfaultfd",
    "io_uring_setup": "io_uring", "io_uring_enter": "io_uring",
    "io_uring_register": "io_uring",
    "ptrace": "tracing other processes", "process_vm_readv": "other processes' memory",
    "process_vm_writev": "other processes' memory",
    "kexec_load": "kernel loading", "kexec_file_load": "kernel loading",
    "init_module": "kernel modules", "finit_module": "kernel modules",
    "delete_module": "kernel modules", "reboot": "reboot", "swapon": "swap",
    "swapoff": "swap", "acct": "process accounting", "syslog": "kernel log",
    "quotactl": "disk quotas", "lookup_dcookie": "profiling", "fanotify_init": "fanotify",
    "name_to_handle_at": "file handles", "open_by_handle_at": "file handles",
    "settimeofday": "system clock", "clock_settime": "system clock",
    "adjtimex": "system clock", "clock_adjtime": "system clock", "vhangup": "terminals",
}
_SYSCALL_NUMBERS = {  # (x86_64, aarch64): from asm/unistd_64.h and asm-generic/unistd.h
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219),
    "unshare": (272, 97), "setns": (308, 268), "mount": (165, 40), "umount2": (166, 39),
    "pivot_root": (155, 41), "open_tree": (428, 428), "move_mount": (429, 429),
    "fsopen": (430, 430), "fsconfig": (431, 431), "fsmount": (432, 432),
    "fspick": (433, 433), "mount_setattr": (442, 442), "bpf": (321, 280),
    "perf_event_open": (298, 241), "userfaultfd": (323, 282), "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426), "io_uring_register": (427, 427), "ptrace": (101, 117),
    "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "init_module": (175, 105),
    "finit_module": (313, 273), "delete_module": (176, 106), "reboot": (169, 142),
    "swapon": (167, 224), "swapoff": (168, 225), "acct": (163, 89), "syslog": (103, 116),
    "quotactl": (179, 60), "lookup_dcookie": (212, 18), "fanotify_init": (300, 262),
    "name_to_handle_at": (303, 264), "open_by_handle_at": (304, 265),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "adjtimex": (159, 171),
    "clock_adjtime": (305, 266), "vhangup": (153, 58),
    "clone": (56, 220), "clone3": (435, 435),
}
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_CLONE_NEW_FLAGS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET


def seccomp_program(machine: str | None = None) -> bytes:
    """The classic-BPF seccomp program for bwrap ``--seccomp FD`` (x86_64 or aarch64)."""
    machine = machine or platform.machine()
    if machine not in _AUDIT_ARCH:
        raise SandboxUnavailable(
            f"no seccomp filter for the {machine} architecture (x86_64 and aarch64 only); "
            "pass --no-sandbox to grade without confinement")
    column = 0 if machine == "x86_64" else 1
    ld, jeq, jge, alu_and, ret = 0x20, 0x15, 0x35, 0x54, 0x06
    allow, errno_ret = 0x7FFF0000, 0x00050000
    # (code, jt label, jf label, k): labels are resolved to relative offsets below
    prog: list[tuple[int, str | int, str | int, int]] = [
        (ld, 0, 0, 4),  # seccomp_data.arch
        (jeq, 0, "deny", _AUDIT_ARCH[machine]),
        (ld, 0, 0, 0),  # seccomp_data.nr
    ]
    if machine == "x86_64":
        prog.append((jge, "deny", 0, 0x40000000))  # the x32 ABI
    for name in BLOCKED_SYSCALLS:
        prog.append((jeq, "deny", 0, _SYSCALL_NUMBERS[name][column]))
    prog.append((jeq, "nosys", 0, _SYSCALL_NUMBERS["clone3"][column]))
    prog.append((jeq, 0, "allow", _SYSCALL_NUMBERS["clone"][column]))
    prog += [
        (ld, 0, 0, 16),  # low 32 bits of args[0] (clone flags; both ABIs are little-endian)
        (alu_and, 0, 0, _CLONE_NEW_FLAGS),
        (jeq, "allow", "deny", 0),
    ]
    labels = {"allow": len(prog), "deny": len(prog) + 1, "nosys": len(prog) + 2}
    prog += [(ret, 0, 0, allow), (ret, 0, 0, errno_ret | errno.EPERM),
             (ret, 0, 0, errno_ret | errno.ENOSYS)]
    out = b""
    for index, (code, jt, jf, k) in enumerate(prog):
        offsets = [labels[j] - index - 1 if isinstance(j, str) else j for j in (jt, jf)]
        out += struct.pack("=HBBI", code, offsets[0], offsets[1], k)
    return out


def build_site(target: Path) -> Path:
    """A read-only import folder with only what a kernel may import from the repo.

    ``tfcourse`` (student helpers) and ``autograder.observe`` (the hidden test cells call it to
    record what the student's functions do), plus the data manifest that ``tfcourse.data``
    reads; nothing else of ``autograder``: no judge, no reference solution, no expected value.
    """
    target = Path(target)
    if target.exists():
        shutil.rmtree(target)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO_ROOT / "tfcourse", target / "tfcourse", ignore=ignore)
    shutil.copytree(
        REPO_ROOT / "autograder" / "observe", target / "autograder" / "observe", ignore=ignore
    )
    (target / "autograder" / "__init__.py").write_text(
        '"""Only the observers are available inside the grading sandbox (no judge)."""\n'
    )
    manifest = REPO_ROOT / "data" / "manifest.json"
    if manifest.is_file():
        (target / "data").mkdir()
        shutil.copy2(manifest, target / "data" / "manifest.json")
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def _namespace_args() -> list[str]:
    return [
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
        "--unshare-cgroup-try", "--die-with-parent", "--new-session",
    ]


# -- the kernel's filesystem, as one list of steps ---------------------------------------------
# The steps are bwrap's own options (a cold kernel: :func:`bwrap_args`); the warm kernels of
# :mod:`autograder.grade.zygote` carry out the same list themselves, so both views are one plan.
@dataclass(frozen=True)
class Mount:
    """One step of building the kernel's filesystem; ``op`` is the bwrap option it renders as.

    ``ro-bind`` / ``bind`` (``src`` at ``dest``), ``dir`` (mode ``mode``), ``symlink`` (``dest``
    pointing at ``src``), ``proc``, ``dev``, ``tmpfs`` (``size`` bytes, mode ``mode``) and
    ``ro-bind-data`` (the connection file, read from fd 3, mode ``mode``).
    """

    op: str
    dest: str
    src: str = ""
    mode: int | None = None
    size: int = 0


def bwrap_args(mounts: list[Mount]) -> list[str]:
    """The bwrap options that carry out ``mounts``."""
    args: list[str] = []
    for m in mounts:
        if m.mode is not None:
            args += ["--perms", f"{m.mode:04o}"]
        if m.op == "tmpfs" and m.size:
            args += ["--size", str(m.size)]
        if m.op in ("ro-bind", "bind", "symlink"):
            args += [f"--{m.op}", m.src, m.dest]
        elif m.op == "ro-bind-data":
            args += ["--ro-bind-data", "3", m.dest]
        else:
            args += [f"--{m.op}", m.dest]
    return args


def _mkdirs(path: Path) -> list[Mount]:
    """Every ancestor of ``path``, world-traversable (bwrap's default is 0700)."""
    parts = Path(path).parts
    return [Mount("dir", str(Path(*parts[:i])), mode=0o755) for i in range(2, len(parts) + 1)]


def _base_binds(tmp_bytes: int) -> list[Mount]:
    mounts = [Mount("ro-bind", "/usr", "/usr")]
    for name in ("bin", "lib", "lib64", "sbin", "lib32"):
        path = Path("/") / name
        if path.is_symlink():
            mounts.append(Mount("symlink", str(path), os.readlink(path)))
        elif path.is_dir():
            mounts.append(Mount("ro-bind", str(path), str(path)))
    mounts.append(Mount("dir", "/etc", mode=0o755))
    for name in ("ld.so.cache", "ld.so.conf", "localtime", "nsswitch.conf", "passwd", "group",
                 "hosts", "mime.types"):
        path = Path("/etc") / name
        if path.exists():
            mounts.append(Mount("ro-bind", str(path), str(path.resolve())))
    if Path("/etc/fonts").is_dir():  # matplotlib's fontconfig
        mounts.append(Mount("ro-bind", "/etc/fonts", "/etc/fonts"))
    return mounts + [Mount("proc", "/proc"), Mount("dev", "/dev"),
                     Mount("tmpfs", "/tmp", mode=0o1777, size=tmp_bytes)]


def _python_binds() -> list[Mount]:
    mounts: list[Mount] = []
    prefixes = sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()})
    for prefix in prefixes:
        mounts += [*_mkdirs(prefix), Mount("ro-bind", str(prefix), str(prefix))]
    venv = Path(sys.prefix)
    if venv != venv.resolve():  # the venv path itself is a symlink: keep it usable
        mounts += [*_mkdirs(venv.parent), Mount("symlink", str(venv), str(venv.resolve()))]
    return mounts


@dataclass
class KernelPlan:
    """Everything one sandboxed kernel gets: its filesystem, environment, folder and uid."""

    mounts: list[Mount]
    env: dict[str, str]
    chdir: str
    uid: int
    config: SandboxConfig
    argv: list[str]  # the kernel's arguments after ``python -m ipykernel_launcher``

    def to_dict(self) -> dict:
        """The JSON request a zygote carries out (:mod:`autograder.grade.zygote`)."""
        config = self.config
        return {
            "mounts": [asdict(m) for m in self.mounts], "env": self.env, "chdir": self.chdir,
            "uid": self.uid, "argv": self.argv, "seccomp": seccomp_program().hex(),
            "rlimits": {"CPU": config.cpu_seconds, "AS": config.memory_bytes,
                        "NPROC": config.max_processes, "FSIZE": config.max_file_bytes,
                        "NOFILE": config.max_open_files, "CORE": 0},
        }


def kernel_plan(
    scratch: Path, site: Path, uid: int, config: SandboxConfig,
    data_dir: Path | None = None, tfds_dir: Path | None = None,
    exchange: tuple[Path, ...] | None = None,
) -> KernelPlan:
    """The sandbox of one submission's kernel (see the module docstring).

    ``exchange``: (challenge folder, observation folder[, oracle folder]) of the fail-closed
    judge (:mod:`autograder.judge`): bound at ``/sbx/challenge`` (read-only), ``/sbx/obs`` and
    ``/sbx/oracle`` (the judge's oracle socket); all live outside ``scratch`` and are owned
    by root but for the observation folder, so the kernel cannot replace them.
    """
    scratch = Path(scratch)
    home, work = scratch / "home", scratch / "work"
    env = {
        "HOME": str(home), "USER": "student", "LOGNAME": "student", "LANG": "C.UTF-8",
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTHONPATH": f"{SANDBOX_MOUNT}/site", "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0", "TFCOURSE_MODE": "fast", "TFCOURSE_ROOT": f"{SANDBOX_MOUNT}/site",
        "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{home}/.mpl",
        "TMPDIR": "/tmp", "JUPYTER_RUNTIME_DIR": str(scratch / "rt"),
    }
    env.update(thread_env(config))
    mounts = [*_base_binds(config.tmp_bytes), *_python_binds(),
              Mount("dir", SANDBOX_MOUNT, mode=0o755),
              Mount("ro-bind", f"{SANDBOX_MOUNT}/site", str(site))]
    if data_dir is not None and Path(data_dir).is_dir():
        mounts.append(Mount("ro-bind", f"{SANDBOX_MOUNT}/data", str(data_dir)))
        env["TFCOURSE_DATA_DIR"] = f"{SANDBOX_MOUNT}/data"
    if tfds_dir is not None and Path(tfds_dir).is_dir():
        mounts.append(Mount("ro-bind", f"{SANDBOX_MOUNT}/tfds", str(tfds_dir)))
        env["TFCOURSE_TFDS_DIR"] = f"{SANDBOX_MOUNT}/tfds"
    if exchange is not None:
        challenge_dir, obs_dir = exchange[0], exchange[1]
        if len(exchange) > 2:  # the oracle's socket folder (root-owned; connect needs rw)
            mounts.append(Mount("bind", f"{SANDBOX_MOUNT}/oracle", str(exchange[2])))
            env["TFCOURSE_ORACLE"] = f"{SANDBOX_MOUNT}/oracle/oracle.sock"
        mounts += [Mount("ro-bind", f"{SANDBOX_MOUNT}/challenge", str(challenge_dir)),
                   Mount("bind", f"{SANDBOX_MOUNT}/obs", str(obs_dir))]
        env["TFCOURSE_CHALLENGE_DIR"] = f"{SANDBOX_MOUNT}/challenge"
        env["TFCOURSE_OBS_DIR"] = f"{SANDBOX_MOUNT}/obs"
    mounts += [*_mkdirs(scratch), Mount("bind", str(scratch), str(scratch)),
               Mount("ro-bind-data", f"{SANDBOX_MOUNT}/connection.json", mode=0o444)]
    return KernelPlan(mounts, env, str(work), uid, config,
                      ["-f", f"{SANDBOX_MOUNT}/connection.json"])


def thread_env(config: SandboxConfig) -> dict[str, str]:
    """Thread-count variables of a kernel with ``config.threads`` (none when 0)."""
    if not config.threads:
        return {}
    return {"TF_NUM_INTRAOP_THREADS": str(config.threads), "TF_NUM_INTEROP_THREADS": "1",
            "OMP_NUM_THREADS": str(config.threads)}


def kernel_argv(plan: KernelPlan, seccomp: Path | None = None) -> list[str]:
    """argv of the sandboxed ``python3`` kernelspec (cold: bwrap + setpriv + prlimit).

    ``seccomp``: a file holding :func:`seccomp_program` (handed to bwrap as fd 4). The kernel's
    raw stdout and stderr go to ``scratch/kernel.out`` (inside the scratch quota).
    """
    tools = find_tools()
    config = plan.config
    scratch = Path(plan.env["JUPYTER_RUNTIME_DIR"]).parent
    binds = bwrap_args(plan.mounts)
    setenv: list[str] = ["--clearenv"]
    for key, value in plan.env.items():
        setenv += ["--setenv", key, value]
    limits = [
        tools["prlimit"], f"--cpu={config.cpu_seconds}", f"--as={config.memory_bytes}",
        f"--nproc={config.max_processes}", f"--fsize={config.max_file_bytes}",
        f"--nofile={config.max_open_files}", "--core=0", "--",
    ]
    # root opens these before bwrap starts, in the scratch's root-owned top folder
    script = 'conn="$1"; out="$2"; shift 2; exec "$@" 3<"$conn" >>"$out" 2>&1'
    shell_args = ["{connection_file}", str(scratch / KERNEL_OUT)]
    if seccomp is not None:
        script = ('conn="$1"; out="$2"; bpf="$3"; shift 3; '
                  'exec "$@" 3<"$conn" 4<"$bpf" >>"$out" 2>&1')
        shell_args.append(str(seccomp))
        binds += ["--seccomp", "4"]
    return [
        "/bin/sh", "-c", script, "sh", *shell_args,
        tools["bwrap"], *_namespace_args(), *setenv, *binds, "--chdir", plan.chdir,
        "--cap-add", "CAP_SETUID,CAP_SETGID", "--",
        tools["setpriv"], f"--reuid={plan.uid}", f"--regid={plan.uid}", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
        *limits, sys.executable, "-m", "ipykernel_launcher", *plan.argv,
    ]


def prepare_scratch(
    scratch: Path, uid: int, files_from: Path | None = None, config: SandboxConfig | None = None,
) -> list[str]:
    """Mount the submission's scratch (a tmpfs of ``config.scratch_bytes``) and fill it.

    Layout: the top folder is root's (0755), so the kernel cannot rename what is in it;
    ``home/`` and ``work/`` (the kernel's cwd) belong to the kernel's uid; ``rt/`` (the ZMQ
    sockets) is root's, sticky and world-writable, so the kernel can create its sockets but not
    remove or replace the grader's files. ``files_from``: the submission's non-notebook files
    are copied into ``work/`` without following symlinks; symlinks and special files are
    skipped and returned (relative paths). Unmount with :func:`release_scratch`.
    """
    config = config or SandboxConfig()
    scratch = Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    mount_tmpfs(scratch, config.scratch_bytes)
    for sub in ("home", "work"):
        (scratch / sub).mkdir(mode=0o700)
    (scratch / "rt").mkdir()
    (scratch / "rt").chmod(0o1733)
    skipped: list[str] = []
    if files_from is not None:
        try:
            copy_tree_nofollow(Path(files_from), scratch / "work", skipped,
                               skip_top=lambda name: name.endswith(".ipynb")
                               or name == "timestamp.txt")
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise RuntimeError(
                    f"the submission's files do not fit in the scratch quota "
                    f"({config.scratch_bytes // MiB} MiB)") from None
            raise
    for sub in ("home", "work"):
        for dirpath, dirnames, filenames in os.walk(scratch / sub):
            for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                os.chown(name, uid, uid, follow_symlinks=False)
    scratch.chmod(0o755)
    return skipped


def copy_tree_nofollow(
    src: Path, dest: Path, skipped: list[str], skip_top: object = None, _rel: str = "",
) -> None:
    """Copy folders and regular files of ``src`` into ``dest``; never follow a symlink.

    Symlinks, FIFOs, sockets and devices are not copied; their relative paths are appended
    to ``skipped``. ``skip_top(name)`` drops top-level entries silently.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with os.scandir(src) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            rel = f"{_rel}{entry.name}"
            if not _rel and callable(skip_top) and skip_top(entry.name):
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                copy_tree_nofollow(Path(entry.path), dest / entry.name, skipped, None,
                                   rel + "/")
            elif stat.S_ISREG(mode):
                copy_file_nofollow(Path(entry.path), dest / entry.name)
            else:
                skipped.append(rel)


def copy_file_nofollow(src: Path, dest: Path) -> None:
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # swapped for something else since the scan
            raise OSError(errno.EINVAL, f"{src} is not a regular file")
        out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o644)
        try:
            while chunk := os.read(fd, 1 << 20):
                os.write(out, chunk)
        finally:
            os.close(out)
        os.utime(dest, ns=(info.st_atime_ns, info.st_mtime_ns), follow_symlinks=False)
    finally:
        os.close(fd)


# -- scratch mounts ----------------------------------------------------------------------------
_MOUNTED: list[str] = []  # tmpfs mounted by this process (released at exit if still there)
_MS_NOSUID, _MS_NODEV, _MNT_DETACH = 2, 4, 2


def _libc():  # noqa: ANN202 (ctypes handle)
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def mount_tmpfs(target: Path, size_bytes: int) -> None:
    """Mount a root-owned tmpfs of ``size_bytes`` (nosuid, nodev) on ``target``."""
    import ctypes

    options = f"size={int(size_bytes)},mode=0755,uid=0,gid=0".encode()
    if _libc().mount(b"tfg-scratch", str(target).encode(), b"tmpfs",
                     _MS_NOSUID | _MS_NODEV, options) != 0:
        err = ctypes.get_errno()
        raise SandboxUnavailable(
            f"cannot mount the scratch tmpfs on {target}: {os.strerror(err)} (the grader "
            "needs root with CAP_SYS_ADMIN)")
    _MOUNTED.append(str(target))


def mounts_under(folder: Path) -> list[str]:
    """Mount points at or below ``folder`` (deepest first), from /proc/self/mountinfo."""
    folder = os.path.realpath(folder)
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4]
            point = point.encode().decode("unicode_escape") if "\\" in point else point
            if point == folder or point.startswith(folder.rstrip("/") + "/"):
                found.append(point)
    return sorted(set(found), key=len, reverse=True)


def release_scratch(folder: Path) -> None:
    """Detach every mount at or below ``folder`` and delete the folder (symlink-safe)."""
    for point in mounts_under(folder):
        _libc().umount2(point.encode(), _MNT_DETACH)
        if point in _MOUNTED:
            _MOUNTED.remove(point)
    shutil.rmtree(folder, ignore_errors=True)  # fd-based on Linux: never follows symlinks


@atexit.register
def _release_own_mounts() -> None:
    for point in list(_MOUNTED):
        if os.path.ismount(point):
            _libc().umount2(point.encode(), _MNT_DETACH)


def write_kernelspec(
    kernels_root: Path, scratch: Path, site: Path, uid: int, config: SandboxConfig,
    data_dir: Path | None = None, tfds_dir: Path | None = None,
    exchange: tuple[Path, ...] | None = None, zygote_socket: Path | None = None,
) -> Path:
    """Write ``<kernels_root>/kernels/python3/kernel.json`` (put kernels_root on JUPYTER_PATH).

    ``zygote_socket``: a warm zygote (:mod:`autograder.grade.zygote`) forks the kernel into the
    same sandbox; otherwise bwrap + setpriv + prlimit start a cold one.
    """
    spec_dir = Path(kernels_root) / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    plan = kernel_plan(scratch, site, uid, config, data_dir, tfds_dir, exchange)
    if zygote_socket is not None:
        from autograder.grade import zygote

        request = spec_dir / "request.json"
        request.write_text(json.dumps(plan.to_dict()))
        argv = [sys.executable, "-I", "-S", zygote.__file__, "kernel", str(zygote_socket),
                str(request), "{connection_file}", str(Path(scratch) / KERNEL_OUT)]
    else:
        seccomp = spec_dir / "seccomp.bpf"
        seccomp.write_bytes(seccomp_program())
        argv = kernel_argv(plan, seccomp)
    spec = {
        "argv": argv,
        "display_name": "Python 3 (sandboxed grading kernel)",
        "language": "python",
        # the kernel has its own session: SIGINT to the launcher's process group would not
        # reach it, so interrupts go over the control channel.
        "interrupt_mode": "message",
        # read by autograder.grade.output_cap in the grading process (never by the kernel)
        "metadata": {"debugger": False, "max_output_bytes": config.max_output_bytes},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def unsandboxed_kernelspec(
    kernels_root: Path, scratch: Path, exchange: tuple[Path, ...] | None = None
) -> Path:
    """A plain ``python3`` kernelspec (``--no-sandbox``) with the grading environment."""
    spec_dir = Path(kernels_root) / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (UNSANDBOXED grading kernel)",
        "language": "python",
        "env": {"TFCOURSE_MODE": "fast", "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0",
                "MPLBACKEND": "Agg", "HOME": str(Path(scratch) / "home")},
    }
    if exchange is not None:
        spec["env"]["TFCOURSE_CHALLENGE_DIR"] = str(exchange[0])
        spec["env"]["TFCOURSE_OBS_DIR"] = str(exchange[1])
        if len(exchange) > 2:
            spec["env"]["TFCOURSE_ORACLE"] = str(Path(exchange[2]) / "oracle.sock")
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def sandbox_uid(slot: int) -> int:
    """An unprivileged uid for a worker slot, distinct per worker process (NPROC is per uid)."""
    return 200_000 + (os.getpid() * 8 + slot) % 500_000
