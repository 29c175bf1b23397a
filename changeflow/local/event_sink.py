"""A loopback HTTP receiver for outgoing change events (the demo's stand-in for incident management,
and the tests' way to see what was posted). ``fail_first`` answers 503 to the first N posts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EventSink:
    def __init__(self, fail_first: int = 0) -> None:
        self.events: list[dict] = []
        self.attempts = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.attempts += 1
                if sink.attempts <= fail_first:
                    self.send_response(503)
                else:
                    sink.events.append(json.loads(body))
                    self.send_response(202)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v2/change/enqueue"

    def __enter__(self) -> EventSink:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
