"""Run a notebook in a fresh kernel, in fast mode, with a time limit per cell."""
from __future__ import annotations

import os
import tempfile

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from traitlets.config import Config

from course_lib.grading import sandbox as bwrap

TIMEOUT_ERROR = "CellTimeoutError"


def kernel_env(**extra: str) -> dict[str, str]:
    """The environment of a course kernel: this one, in fast mode, offline, with the inline plot
    backend, plus ``extra``."""
    env = {**os.environ, "COURSE_MODE": "fast", "COURSE_OFFLINE": "1", **extra}
    env.pop("MPLBACKEND", None)
    return env


def execute(nb, cwd: str, timeout: int, allow_errors: bool, env: dict[str, str] | None = None,
            sandbox: bwrap.Sandbox | None = None) -> int | None:
    """Execute ``nb`` in place in a fresh kernel (environment ``env``, default :func:`kernel_env`).
    A cell that runs past ``timeout`` seconds is interrupted and gets an error output named
    ``CellTimeoutError``; the following cells still run. With ``sandbox``, the kernel runs under
    bubblewrap (:mod:`course_lib.grading.sandbox`) with ``cwd`` as its writable working folder and home.

    Returns None, or the index of the cell that was running when the kernel died (the remaining
    cells were not run).
    """
    started = []

    def mark_timeout(cell, cell_index, execute_reply):
        if execute_reply and execute_reply.get("content", {}).get("ename") == TIMEOUT_ERROR:
            content = execute_reply["content"]
            cell.outputs.append(nbformat.v4.new_output("error", ename=TIMEOUT_ERROR,
                                                       evalue=content["evalue"], traceback=[]))

    # The kernel talks over IPC sockets, files in a folder of its own, not over TCP ports: kernels
    # started in parallel (``course grade --jobs``) could pick the same free port and fail to bind it.
    # The connection file goes there too, so that a sandboxed kernel needs no other folder of the grader.
    sockets = tempfile.TemporaryDirectory(prefix="course-kernel-")
    config = Config({"KernelManager": {"transport": "ipc", "ip": os.path.join(sockets.name, "kernel"),
                                       "connection_file": os.path.join(sockets.name, "connection.json")}})
    env = env or kernel_env()
    manager = {}
    if sandbox is not None:
        mounts = bwrap.Sandbox(sandbox.readable, (*sandbox.writable, sockets.name))
        config.SandboxedKernelManager.prefix = bwrap.command(mounts, home=cwd)
        manager = {"kernel_manager_class": bwrap.SandboxedKernelManager}
        env = bwrap.environment(env)
        bwrap.seed_home(cwd)
    client = NotebookClient(
        nb,
        config=config,
        **manager,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        interrupt_on_timeout=True,
        # a grading kernel is thrown away once its last cell has run (its outputs and answer files are
        # complete by then): killed at once, not asked to shut down, which took 2 s per kernel once torch was loaded
        shutdown_kernel="immediate",
        error_on_timeout={"ename": TIMEOUT_ERROR,
                          "evalue": f"the cell ran longer than {timeout} s and was stopped",
                          "traceback": []},
        resources={"metadata": {"path": cwd}},
        on_cell_start=lambda cell, cell_index: started.append(cell_index),
        on_cell_executed=mark_timeout,
    )
    try:
        with sockets:
            client.execute(env=env)
    except DeadKernelError:
        return started[-1] if started else 0
    return None


def timed_out(cell) -> bool:
    return any(o.get("output_type") == "error" and o.get("ename") == TIMEOUT_ERROR
               for o in cell.get("outputs", []))


def error_of(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename')}: {output.get('evalue')}"
    return None


def stdout_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")
