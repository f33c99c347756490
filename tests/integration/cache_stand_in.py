"""A stand-in for the PanDA cache's upload endpoint, for custom-job and remote-build submits.

panda-client's ``putFile`` sends a multipart POST to ``$PANDA_URL_SSL``'s
``/api/v1/file_server/upload_cache_file`` and reads ``{"success": true}`` back; a real
panda-server does not install here, so this small HTTP server on 127.0.0.1 answers it
(as `fake_relay` answers the relay). It records what it receives and can be told to
fail with an HTTP status. Given a `fake_relay.FakeRelay`, it also answers the relay's
endpoint with it, so one ``$PANDA_URL_SSL`` serves both, as a real PanDA server does
(``bps`` end to end). It runs in a daemon thread.
"""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any

UPLOAD_PATH = "/api/v1/file_server/upload_cache_file"


class StandInCache:
    """The PanDA cache upload endpoint: ``bodies`` received; ``fail_with`` an HTTP status."""

    def __init__(self, relay: Any = None) -> None:
        self.relay = relay
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self.fail_with: int | None = None
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if owner.relay is not None and self.path.endswith("/relay_idds_command"):
                    self._reply(200, owner.relay.execute(body).encode())
                    return
                owner.paths.append(self.path)
                if owner.fail_with is not None:
                    self.send_response(owner.fail_with)
                    self.end_headers()
                    self.wfile.write(b"cache unavailable")
                    return
                owner.bodies.append(body)
                self._reply(200, json.dumps({"success": True, "message": ""}).encode())

            def _reply(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/server/panda"

    def __enter__(self) -> StandInCache:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
