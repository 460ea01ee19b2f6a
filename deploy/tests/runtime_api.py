"""A minimal Lambda Runtime API (2018-06-01) serving a fixed queue of events to one runtime process, the way the
Runtime Interface Emulator does for `curl …/2015-03-31/functions/function/invocations -d @event.json`.

Only what a runtime calls: `invocation/next`, `invocation/{id}/response`, `invocation/{id}/error`, `init/error`.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class RuntimeApi:
    """Serves `events` in order; `result(id)` waits for the runtime's answer to one of them."""

    def __init__(self, events: list[dict], function_arn: str):
        self._pending: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._results: dict[str, queue.Queue] = {}
        self.ids: list[str] = []
        self.init_error: bytes | None = None
        for event in events:
            request_id = str(uuid.uuid4())
            self.ids.append(request_id)
            self._results[request_id] = queue.Queue(maxsize=1)
            self._pending.put((request_id, json.dumps(event).encode()))
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def _reply(self, status: int, body: bytes = b"{}", headers: dict | None = None):
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404)
                request_id, body = api._pending.get()  # blocks, like Lambda, until there is work
                self._reply(
                    200,
                    body,
                    {
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 10_000),
                        "Lambda-Runtime-Invoked-Function-Arn": function_arn,
                        "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
                    },
                )

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                # Answer first, then hand the result over: the test may stop the runtime as soon as it has it.
                if self.path == f"{PREFIX}/init/error":
                    self._reply(202)
                    api.init_error = body
                    return
                parts = self.path[len(PREFIX) :].strip("/").split("/")
                if len(parts) == 3 and parts[0] == "invocation" and parts[1] in api._results:
                    self._reply(202)
                    api._results[parts[1]].put((parts[2], body))
                    return
                self._reply(404)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def result(self, request_id: str, timeout: float) -> tuple[str, bytes]:
        """(`response` or `error`, body) the runtime posted for `request_id`; raises queue.Empty on timeout."""
        return self._results[request_id].get(timeout=timeout)
