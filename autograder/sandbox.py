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
* the only writable places are the submission's scratch folder and a private tmpfs /tmp;
* the kernel runs as an unprivileged uid with no capabilities (so RLIMIT_NPROC applies; root
  would bypass it) under CPU-time, address-space, process-count and file-size limits.

bwrap runs as root *without* a user namespace (mounting needs it); the kernel's uid is set by
setpriv, which drops the two capabilities bwrap kept for it.
"""

from __future__ import annotations

import json
import os
import shutil
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
    """Run a trivial command in the sandbox; raise :class:`SandboxUnavailable` on failure."""
    tools = find_tools()
    cmd = [tools["bwrap"], *_namespace_args(), *_base_binds(), "--", "/bin/true"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap is installed but cannot create a sandbox here: {proc.stderr.strip()}\n"
            "It needs CAP_SYS_ADMIN (root in a privileged container or on the host)."
        )


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


def _mkdirs(path: Path) -> list[str]:
    """bwrap args creating every ancestor of ``path`` world-traversable (default is 0700)."""
    args: list[str] = []
    parts = Path(path).parts
    for i in range(2, len(parts) + 1):
        args += ["--perms", "0755", "--dir", str(Path(*parts[:i]))]
    return args


def _base_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin", "lib32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in ("ld.so.cache", "ld.so.conf", "localtime", "nsswitch.conf", "passwd", "group",
                 "hosts", "mime.types"):
        path = Path("/etc") / name
        if path.exists():
            args += ["--ro-bind", str(path.resolve()), str(path)]
    if Path("/etc/fonts").is_dir():  # matplotlib's fontconfig
        args += ["--ro-bind", "/etc/fonts", "/etc/fonts"]
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    return args


def _python_binds() -> list[str]:
    args: list[str] = []
    prefixes = sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()})
    for prefix in prefixes:
        args += _mkdirs(prefix) + ["--ro-bind", str(prefix), str(prefix)]
    venv = Path(sys.prefix)
    if venv != venv.resolve():  # the venv path itself is a symlink: keep it usable
        args += _mkdirs(venv.parent) + ["--symlink", str(venv.resolve()), str(venv)]
    return args


def kernel_argv(
    scratch: Path, site: Path, uid: int, config: SandboxConfig,
    data_dir: Path | None = None, tfds_dir: Path | None = None,
    exchange: tuple[Path, Path] | None = None,
) -> list[str]:
    """argv of the sandboxed ``python3`` kernelspec for one submission.

    ``exchange``: (challenge folder, observation folder) of the fail-closed judge
    (:mod:`autograder.judge`): the first is bound read-only at ``/sbx/challenge``, the second
    read-write at ``/sbx/obs``; both live outside ``scratch`` so the kernel cannot replace them.
    """
    tools = find_tools()
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
    if config.threads:
        env["TF_NUM_INTRAOP_THREADS"] = str(config.threads)
        env["TF_NUM_INTEROP_THREADS"] = "1"
        env["OMP_NUM_THREADS"] = str(config.threads)
    binds = [*_base_binds(), *_python_binds(), "--perms", "0755", "--dir", SANDBOX_MOUNT,
             "--ro-bind", str(site), f"{SANDBOX_MOUNT}/site"]
    if data_dir is not None and Path(data_dir).is_dir():
        binds += ["--ro-bind", str(data_dir), f"{SANDBOX_MOUNT}/data"]
        env["TFCOURSE_DATA_DIR"] = f"{SANDBOX_MOUNT}/data"
    if tfds_dir is not None and Path(tfds_dir).is_dir():
        binds += ["--ro-bind", str(tfds_dir), f"{SANDBOX_MOUNT}/tfds"]
        env["TFCOURSE_TFDS_DIR"] = f"{SANDBOX_MOUNT}/tfds"
    if exchange is not None:
        challenge_dir, obs_dir = exchange
        binds += ["--ro-bind", str(challenge_dir), f"{SANDBOX_MOUNT}/challenge",
                  "--bind", str(obs_dir), f"{SANDBOX_MOUNT}/obs"]
        env["TFCOURSE_CHALLENGE_DIR"] = f"{SANDBOX_MOUNT}/challenge"
        env["TFCOURSE_OBS_DIR"] = f"{SANDBOX_MOUNT}/obs"
    binds += _mkdirs(scratch) + ["--bind", str(scratch), str(scratch)]
    binds += ["--perms", "0444", "--ro-bind-data", "3", f"{SANDBOX_MOUNT}/connection.json"]
    setenv: list[str] = ["--clearenv"]
    for key, value in env.items():
        setenv += ["--setenv", key, value]
    limits = [
        tools["prlimit"], f"--cpu={config.cpu_seconds}", f"--as={config.memory_bytes}",
        f"--nproc={config.max_processes}", f"--fsize={config.max_file_bytes}",
        f"--nofile={config.max_open_files}", "--core=0", "--",
    ]
    return [
        "/bin/sh", "-c", 'conn="$1"; shift; exec "$@" 3<"$conn"', "sh", "{connection_file}",
        tools["bwrap"], *_namespace_args(), *setenv, *binds, "--chdir", str(work),
        "--cap-add", "CAP_SETUID,CAP_SETGID", "--",
        tools["setpriv"], f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
        "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
        *limits, sys.executable, "-m", "ipykernel_launcher", "-f",
        f"{SANDBOX_MOUNT}/connection.json",
    ]


def prepare_scratch(scratch: Path, uid: int, files_from: Path | None = None) -> None:
    """Create the submission's scratch folder (home, work, rt) owned by the kernel's uid.

    ``files_from``: copy the submission's non-notebook files into ``work/`` (the kernel's cwd),
    so that a notebook reading its own side files still works.
    """
    scratch = Path(scratch)
    for sub in ("home", "work", "rt"):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    if files_from is not None:
        for item in Path(files_from).iterdir():
            if item.suffix == ".ipynb" or item.name == "timestamp.txt":
                continue
            dest = scratch / "work" / item.name
            if item.is_dir():
                shutil.copytree(item, dest, dirs_exist_ok=True)
            else:
                shutil.copy2(item, dest)
    for path in [scratch, *scratch.rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)
    scratch.chmod(0o755)


def write_kernelspec(
    kernels_root: Path, scratch: Path, site: Path, uid: int, config: SandboxConfig,
    data_dir: Path | None = None, tfds_dir: Path | None = None,
    exchange: tuple[Path, Path] | None = None,
) -> Path:
    """Write ``<kernels_root>/kernels/python3/kernel.json`` (put kernels_root on JUPYTER_PATH)."""
    spec_dir = Path(kernels_root) / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": kernel_argv(scratch, site, uid, config, data_dir, tfds_dir, exchange),
        "display_name": "Python 3 (sandboxed grading kernel)",
        "language": "python",
        # bwrap --new-session puts the kernel in its own session: SIGINT to the launcher's
        # process group would not reach it, so interrupts go over the control channel.
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def unsandboxed_kernelspec(
    kernels_root: Path, scratch: Path, exchange: tuple[Path, Path] | None = None
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
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def sandbox_uid(slot: int) -> int:
    """An unprivileged uid for a worker slot, distinct per worker process (NPROC is per uid)."""
    return 200_000 + (os.getpid() * 8 + slot) % 500_000
