"""A stand-in for PanDA's ``relay_idds_command`` endpoint, in front of the test iDDS server.

Why: ``bps submit`` reaches iDDS through the PanDA server, not directly, and a real
panda-server does not install here (it wants Apache/mod_wsgi).  The relay's contract is
small and visible in panda-client: a POST of ``{command_name, args, kwargs, manager}``
(gzipped JSON), answered with the JSON of ``(True, <ClientManager return value>)`` or
``(False, message)``.  This fake does exactly that with a real ``ClientManager``, so the
relay path of ``compiler.runtime.idds`` is exercised end to end against real iDDS.

``fail_next(n, status)`` makes the next ``n`` calls answer an HTTP error instead (to test
retries through the relay); ``hold_replies_to(command)`` runs that command against iDDS
but keeps its answer back until ``release()`` (a lost answer: the request is stored, the
client never hears of it).  It binds 127.0.0.1 and runs in a daemon thread.
"""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Mapping
from typing import Any


class FakeRelay:
    """The relay endpoint at ``http://127.0.0.1:<port>/server/panda/relay_idds_command``."""

    def __init__(self, idds_url: str, headers: Mapping[str, str]) -> None:
        self.idds_url = idds_url
        self.headers = dict(headers)
        self.calls: list[str] = []
        self.executed: list[str] = []
        self._held: set[str] = set()
        self._release = threading.Event()
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    @property
    def url(self) -> str:
        """What ``PANDA_URL_SSL`` is set to."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/server/panda"

    def __enter__(self) -> FakeRelay:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` calls with HTTP ``status``."""
        with self._lock:
            self._failures.extend([status] * count)

    def hold_replies_to(self, command: str) -> None:
        """Execute ``command`` calls but answer them only after `release`."""
        self._held.add(command)

    def release(self) -> None:
        """Let held answers go (to whoever still listens)."""
        self._release.set()

    def take_failure(self) -> int | None:
        """The HTTP status to fail this call with, if one is queued."""
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def execute(self, body: bytes) -> str:
        """Run one relayed command with a real ClientManager; the JSON reply text."""
        from idds.client.clientmanager import ClientManager
        from idds.common.utils import json_dumps, json_loads

        data = json.loads(gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body)
        command, _, host = data["command_name"].partition("+")
        self.calls.append(command)
        args = json_loads(data["args"]) if data.get("args") else []
        kwargs = json_loads(data["kwargs"]) if data.get("kwargs") else {}
        manager = ClientManager(host=host or self.idds_url, timeout=10)
        try:
            manager.setup_client()
            manager.client.host = host or self.idds_url
            manager.client.retries = 1
            manager.client.session.headers.update(self.headers)
            reply = json_dumps((True, getattr(manager, command)(*args, **kwargs)))
            self.executed.append(command)
            if command in self._held:
                self._release.wait(60)
            return reply
        except Exception as exc:  # the real relay answers (False, message) too
            return json.dumps((False, f"failed to execute command with {exc}"))


def _handler_for(relay: FakeRelay) -> type[http.server.BaseHTTPRequestHandler]:
    """A request handler class bound to ``relay``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            failure = relay.take_failure()
            if not self.path.endswith("/relay_idds_command"):
                self._reply(404, "no such endpoint")
            elif failure is not None:
                self._reply(failure, f"{failure} Service Unavailable (injected)")
            else:
                self._reply(200, relay.execute(body))

        def _reply(self, status: int, text: str) -> None:
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    return Handler
