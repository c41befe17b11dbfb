"""Grading kernels in a bubblewrap sandbox (Linux): ``course grade --sandbox``, the default where it works.

A submission is untrusted code, and a kernel otherwise runs with the grader's rights: it could delete
the instructor's files, read the other submissions, or open network connections. Under ``bwrap`` a
kernel sees a new root made of:

- the system folders (``/usr``, ``/etc``, ...), the Python installation and the ``course_lib``
  package, all read-only (secrets of ``/etc`` that only root can read are masked);
- a private ``/tmp`` and ``/dev/shm`` (small tmpfs), a minimal ``/dev`` (no GPU), its own ``/proc``;
- the folders the grader hands it, at their own paths: read-only ones (the stubbed library, the
  cases) and writable ones (the working folder, which is also ``$HOME``; the IPC sockets).

Nothing else: not the instructor's home, not the other submissions, not the grader's temporary
files. It runs in new namespaces (no network: only its own loopback; its own PIDs, so a process it
forks dies with the kernel), with every capability dropped, so that a grader run as root cannot be
used to raise the kernel's memory limit or to remount a read-only folder.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import List, Unicode

BWRAP = "bwrap"
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# root-only files of /etc: a kernel of a grader run as root is uid 0 (without capabilities) and could
# read them, then print them into a learner's feedback
SECRETS = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/ssh", "/etc/ssl/private",
           "/etc/sudoers", "/etc/sudoers.d")
TMPFS_BYTES = 512 * 2**20  # /tmp and /dev/shm: RAM that the kernel's address-space limit does not count
# what a kernel needs of the grader's environment; the rest (tokens, passwords) stays out
ENV_NAMES = {"PATH", "LD_LIBRARY_PATH", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONPATH", "PYTHONHASHSEED",
             "VIRTUAL_ENV", "CONDA_PREFIX", "OMP_NUM_THREADS", "MKL_NUM_THREADS"}
ENV_PREFIXES = ("COURSE_", "LC_", "JPY_")
README_HINT = 'see README, "Grading untrusted submissions"'
NOT_SANDBOXED = f"graded without the sandbox: the kernels ran with your user rights ({README_HINT})"


class SandboxUnavailable(RuntimeError):
    """``bwrap`` is missing or cannot create its namespaces here."""


@dataclass(frozen=True)
class Sandbox:
    """The grader's folders one kernel sees, besides the system and the course: ``readable`` ones and
    ``writable`` ones, each at its own path. ``execute`` adds the working folder and the sockets."""

    readable: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()


@functools.lru_cache(maxsize=1)
def _help_text() -> str:
    run = subprocess.run([BWRAP, "--help"], capture_output=True, text=True, timeout=10)
    return run.stdout + run.stderr


def _supports(flag: str) -> bool:
    """Whether this bwrap knows ``flag`` (``--disable-userns`` and ``--size`` came in 0.8)."""
    return f"{flag} " in _help_text()


def _same_path(option: str, path: str) -> list[str]:
    """Mount ``path`` at its own path, and at its real path when a symlink leads there."""
    real = os.path.realpath(path)
    return [option, real, real] + ([option, real, path] if real != os.path.abspath(path) else [])


def python_paths() -> list[str]:
    """The folders of this Python (a venv and the interpreter it points to) and of ``course_lib``."""
    prefixes = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                str(Path(os.path.realpath(sys.executable)).parents[1])}
    course = str(Path(__file__).resolve().parents[1])
    return sorted(p for p in prefixes | {course} if os.path.isdir(p))


def torch_hub() -> str | None:
    """The torch hub folder (pretrained weights), when it exists: the kernels read it, offline."""
    import torch

    hub = torch.hub.get_dir()
    return hub if os.path.isdir(hub) else None


def _system_mounts() -> list[str]:
    args = []
    for path in SYSTEM:
        if os.path.islink(path):  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in SECRETS:
        if os.path.isdir(path):
            args += ["--tmpfs", path, "--remount-ro", path]
        elif os.path.exists(path):
            args += ["--ro-bind", "/dev/null", path]
    return args


def _tmpfs(path: str) -> list[str]:
    return (["--size", str(TMPFS_BYTES)] if _supports("--size") else []) + ["--tmpfs", path]


def command(sandbox: Sandbox, home: str) -> list[str]:
    """The ``bwrap`` arguments that run a command in the sandbox, ``home`` its working folder and home."""
    args = [BWRAP, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if _supports("--disable-userns"):  # no nested namespace in which to regain capabilities
        args.append("--disable-userns")
    args += _system_mounts() + ["--proc", "/proc", "--dev", "/dev", *_tmpfs("/dev/shm"), *_tmpfs("/tmp")]
    for path in python_paths():
        args += _same_path("--ro-bind", path)
    hub = torch_hub()
    if hub:
        args += _same_path("--ro-bind", hub) + ["--setenv", "TORCH_HOME", str(Path(hub).parent)]
    for path in sandbox.readable:
        args += _same_path("--ro-bind", path)
    for path in (home, *sandbox.writable):
        args += _same_path("--bind", path)
    # The kernel's parent is the sandbox's PID 1, not the grader's PID: ipykernel, given the latter,
    # would take itself for an orphan and exit. Given 1, it polls no parent (--die-with-parent ends
    # it with the grader) and prints no "Ctrl-C will not work" banner.
    args += ["--setenv", "JPY_PARENT_PID", "1", "--setenv", "HOME", home, "--chdir", home, "--"]
    return args


@functools.lru_cache(maxsize=1)
def _font_caches() -> tuple[Path, ...]:
    import matplotlib

    return tuple(Path(matplotlib.get_cachedir()).glob("fontlist-*.json"))


def seed_home(home: str) -> None:
    """Copy the grader's matplotlib font list into the kernel's empty home, where matplotlib looks
    for it: without it every sandboxed kernel that plots would spend a quarter of a second scanning
    the fonts again (most of what the sandbox costs)."""
    target = Path(home) / ".cache" / "matplotlib"
    for cache in _font_caches():
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache, target / cache.name)


def environment(env: dict[str, str]) -> dict[str, str]:
    """The part of ``env`` a sandboxed kernel gets (``ENV_NAMES``, ``ENV_PREFIXES``)."""
    return {k: v for k, v in env.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """None where a trial ``bwrap ... true`` works, else why not (one line)."""
    if os.name != "posix" or sys.platform == "darwin":
        return f"bubblewrap runs on Linux only (this is {sys.platform})"
    if shutil.which(BWRAP) is None:
        return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        with tempfile.TemporaryDirectory(prefix="course-sandbox-") as home:
            trial = subprocess.run([*command(Sandbox(), home), "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not start ({type(error).__name__}: {error})"
    if trial.returncode != 0:
        lines = trial.stderr.strip().splitlines() or [f"exit status {trial.returncode}"]
        return f"bwrap cannot create its sandbox here ({lines[-1]}; no user namespaces?)"
    return None


def require() -> None:
    """Raise :class:`SandboxUnavailable` unless kernels can run in the sandbox on this machine."""
    reason = unavailable_reason()
    if reason:
        raise SandboxUnavailable(f"bubblewrap not available: {reason}")


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts its kernel under ``prefix`` (a :func:`command`).

    Interrupts go as a message on the control channel rather than as SIGINT to the process group:
    that group is bwrap's, which a SIGINT would end (and the kernel with it), and the kernel sits in
    a session of its own (``--new-session``, so it cannot type into the grader's terminal).
    """

    prefix = List(Unicode(), config=True, help="the bwrap command line the kernel's command follows")

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return [*self.prefix, *super().format_kernel_cmd(extra_arguments)]
