"""Fixtures that several test files share."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def course_lab(tmp_path):
    """Start ``course lab`` as ``make lab`` does: ``course_lab(*options)`` (extra JupyterLab options)
    returns ``(url, token)`` once the server's API answers; the server stops after the test. Its
    Jupyter runtime, config and data folders are the test's own."""
    processes = []

    def start(*options: str) -> tuple[str, str]:
        port, token = free_port(), uuid.uuid4().hex
        env = {**os.environ, **{f"JUPYTER_{kind}_DIR": str(tmp_path / kind.lower()) for kind in ("RUNTIME", "CONFIG", "DATA")}}
        process = subprocess.Popen([sys.executable, "-m", "course_lib.grading.cli", "lab", "--no-browser",
                                    "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                                    f"--IdentityProvider.token={token}", *options],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        status = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
        for _ in range(120):
            try:
                urllib.request.urlopen(status, timeout=5)
                return url, token
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"course lab stopped: {process.stdout.read()}")
                time.sleep(0.5)
        pytest.fail("course lab did not answer /api/status within a minute")

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
