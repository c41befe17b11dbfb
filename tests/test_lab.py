"""`course lab` (what `make lab` runs) serves the notebooks and runs their code, also as root."""
import json
import time
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest
from tornado.ioloop import IOLoop
from tornado.websocket import websocket_connect

pytestmark = pytest.mark.slow  # kernels and whole notebooks: `make test`, not `make check`

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def server(course_lab):
    return course_lab()


def api(url, token, path, method="GET", body=None):
    request = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def run_in_kernel(url, token, kernel_id, code, timeout=120) -> str:
    """Execute ``code`` through the server's websocket; return what it printed."""
    async def run():
        ws = await websocket_connect(f"{url.replace('http', 'ws')}/api/kernels/{kernel_id}/channels?token={token}")
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
                       "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False}}))
        printed = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(await ws.read_message())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["header"]["msg_type"]
            if kind == "stream":
                printed.append(message["content"]["text"])
            elif kind == "error":
                printed.append(f"{message['content']['ename']}: {message['content']['evalue']}")
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                break
        ws.close()
        return "".join(printed)

    return IOLoop.current().run_sync(run, timeout=timeout + 10)


def test_course_lab_serves_the_notebooks_and_runs_the_first_cell(server):
    url, token = server
    listed = {item["name"] for item in api(url, token, "/api/contents")["content"]}
    assert {p.name for p in (ROOT / "notebooks").glob("*.ipynb")} <= listed
    first = next(c for c in nbformat.read(ROOT / "notebooks" / "00_welcome.ipynb", as_version=4).cells
                 if c.cell_type == "code")
    kernel = api(url, token, "/api/kernels", method="POST", body={"name": "python3"})
    try:
        printed = run_in_kernel(url, token, kernel["id"], first.source)
    finally:
        api(url, token, f"/api/kernels/{kernel['id']}", method="DELETE")
    assert printed.startswith("device=cpu mode=") and "torch=" in printed, printed
