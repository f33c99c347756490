"""A real iDDS REST server (PyPI ``idds-server``) on 127.0.0.1, for integration tests.

Why a real server: the runtime side of panda-compile talks to iDDS through
``idds.client.clientmanager.ClientManager`` (directly, or relayed by PanDA), and only the
real REST app shows what survives a submit (task names, dependency maps), what abort and
retry answer, and how auth failures look on the wire.

Why a separate interpreter: installing ``idds-server`` into the venv that also holds
``lsst-ctrl-bps-panda`` makes every idds import there think it runs *inside a server*
(``idds.common.config.is_client()`` is False once ``idds.agents`` is importable), so
``import lsst.ctrl.bps.panda`` dies with "Could not load configuration file" unless
``IDDS_CLIENT_MODE=1`` is set in every process.  So the server runs from its own venv,
built once under a cache directory (about 20 s, 210 MB) and reused; set
``PANDA_COMPILE_IDDS_SERVER_PYTHON`` to use an interpreter you already have.

How it runs (facts measured with idds 2.6.21, see the project notes):

- ``idds.cfg`` must name ``[common] logdir`` (else every call but ping answers 500);
- SQLite needs an ``md5`` SQL function for one index, registered on each connection;
- the Flask app is mounted under ``/idds`` with werkzeug, as Apache does in production;
- auth is ``x509_proxy`` over plain HTTP: the DN and a (never verified) certificate are
  sent as the request headers ``SSL-CLIENT-S-DN``/``SSL-CLIENT-CERT``, and the DN must
  contain an ``allow_users`` entry of ``auth.cfg``.

This file is imported by the tests *and* run as the server's main script by the server
interpreter (``python idds_server.py serve PORT``), so it imports only the standard
library at module level.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

IDDS_VERSION = "2.6.21"
SERVER_REQUIREMENTS = tuple(
    f"{name}=={IDDS_VERSION}"
    for name in ("idds-server", "idds-prompt", "idds-client", "idds-common", "idds-workflow", "idds-doma")
)
ALLOWED_DN = "/DC=org/DC=test/CN=panda-compile-tester"
ALLOWED_USER_PATTERN = "CN=panda-compile-tester"
FORBIDDEN_DN = "/DC=org/DC=test/CN=intruder"
PYTHON_ENV_VAR = "PANDA_COMPILE_IDDS_SERVER_PYTHON"
CACHE_ENV_VAR = "PANDA_COMPILE_TEST_CACHE"
START_TIMEOUT = 20.0
# Client-side or test-venv settings that must not leak into the server process.
_SERVER_ENV_DROP = ("IDDS_", "X509_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
VENV_TIMEOUT = 300.0


def auth_headers(dn: str = ALLOWED_DN) -> dict[str, str]:
    """Headers that make the server see ``dn`` as an authenticated x509 user.

    Production gets these from Apache mod_ssl; over plain HTTP the server reads them from
    the request headers and checks only that the DN contains an allowed entry.
    """
    return {"SSL-CLIENT-S-DN": dn, "SSL-CLIENT-CERT": "dummy-certificate"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cache_root() -> Path:
    """Where the server venv is kept between sessions (``$PANDA_COMPILE_TEST_CACHE``)."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "panda-compile"


def _has_server_packages(python: str) -> bool:
    """True if ``python`` can import the REST app and ``idds.prompt`` (which the app needs)."""
    code = (
        "import importlib.util as u, sys\n"
        "sys.exit(0 if u.find_spec('idds.rest') and u.find_spec('idds.prompt') else 1)"
    )
    try:
        return subprocess.run([python, "-c", code], timeout=30, capture_output=True).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def server_python(cache_dir: Path | None = None, timeout: float = VENV_TIMEOUT) -> str:
    """The interpreter that runs the server: from the env, else a cached venv built on demand.

    The venv is built under a file lock (parallel test sessions share it) and marked
    complete only after ``pip`` succeeded, so an interrupted build is redone, not reused.
    Raises ``RuntimeError`` with pip's last lines if it cannot be built.
    """
    explicit = os.environ.get(PYTHON_ENV_VAR)
    if explicit:
        if not _has_server_packages(explicit):
            raise RuntimeError(f"{PYTHON_ENV_VAR}={explicit} cannot import idds.rest and idds.prompt")
        return explicit
    root = cache_dir or cache_root()
    venv = root / f"idds-server-{IDDS_VERSION}-py{sys.version_info[0]}.{sys.version_info[1]}"
    python = venv / "bin" / "python"
    marker = venv / ".complete"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".idds-server-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and python.exists():
            return str(python)
        shutil.rmtree(venv, ignore_errors=True)
        _build_venv(venv, timeout)
        marker.write_text(" ".join(SERVER_REQUIREMENTS) + "\n")
    return str(python)


def _build_venv(venv: Path, timeout: float) -> None:
    """``python -m venv`` plus ``pip install`` of the pinned server packages, time-bounded."""
    deadline = time.monotonic() + timeout
    base = getattr(sys, "_base_executable", None) or sys.executable
    steps = [
        [base, "-m", "venv", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *SERVER_REQUIREMENTS,
        ],
    ]
    for cmd in steps:
        left = deadline - time.monotonic()
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=max(left, 1.0))
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"building the iDDS server venv timed out after {timeout:.0f} s") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise RuntimeError(f"building the iDDS server venv failed: {' '.join(cmd[:4])} ...\n{tail}")


def write_server_config(root: Path, port: int) -> tuple[Path, Path]:
    """Write ``idds.cfg`` and ``auth.cfg`` under ``root``; returns their paths.

    Everything lives under ``root`` (logs, SQLite file, cacher dir, step storage) so a session leaves
    nothing behind and never reads a config from the venv or ``/etc``.
    """
    for sub in ("logs", "cacher", "additional_storage"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    idds_cfg = root / "idds.cfg"
    idds_cfg.write_text(
        "[common]\nloglevel = INFO\n"
        f"logdir = {root / 'logs'}\n\n"
        f"[database]\ndefault = sqlite:///{root / 'idds.db'}\n\n"
        f"[rest]\nhost = http://127.0.0.1:{port}/idds\ncacher_dir = {root / 'cacher'}\n"
        # where uploaded workflow steps (large dependency maps) go; the default is /tmp
        f"additional_storage = {root / 'additional_storage'}\n"
    )
    auth_cfg = root / "auth.cfg"
    auth_cfg.write_text(
        "[common]\nallow_vos = \n\n"
        f"[Users]\nallow_users = {ALLOWED_USER_PATTERN}\nsuper_users = nobody-is-super\n"
    )
    return idds_cfg, auth_cfg


@dataclasses.dataclass
class IddsServer:
    """One iDDS REST server subprocess on a fixed port and database; stoppable, restartable.

    ``env`` is what a *client* process needs: the URL, a dummy proxy file (the client
    refuses to run without one), a private local-config root and ``IDDS_CLIENT_MODE=1``
    (harmless without idds-server, needed if someone installs both in one venv).  The
    server's own ``IDDS_CONFIG`` is kept out of it: the client would read it too.
    """

    root: Path
    python: str
    port: int = dataclasses.field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    start_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.idds_cfg, self.auth_cfg = write_server_config(self.root, self.port)
        self.proxy_file = self.root / "x509up_dummy"
        self.proxy_file.write_text("not a real proxy; the test server never checks it\n")
        (self.root / "client").mkdir(exist_ok=True)

    @property
    def url(self) -> str:
        """Base URL a ``ClientManager(host=...)`` takes."""
        return f"http://127.0.0.1:{self.port}/idds"

    @property
    def db_path(self) -> Path:
        """The SQLite database (kept across ``stop``/``start``)."""
        return self.root / "idds.db"

    @property
    def additional_storage(self) -> Path:
        """Where the server stores the works' data uploaded as workflow steps."""
        return self.root / "additional_storage"

    @property
    def log_path(self) -> Path:
        """stdout+stderr of the server process (werkzeug's access log, tracebacks)."""
        return self.root / "server.log"

    @property
    def headers(self) -> dict[str, str]:
        """Auth headers of the allowed test user."""
        return auth_headers(ALLOWED_DN)

    @property
    def env(self) -> dict[str, str]:
        """Environment variables for a client process talking to this server."""
        return {
            "IDDS_HOST": self.url,
            "IDDS_AUTH_TYPE": "x509_proxy",
            "X509_USER_PROXY": str(self.proxy_file),
            "IDDS_CLIENT_MODE": "1",
            "IDDS_LOCAL_CONFIG_ROOT": str(self.root / "client"),
            "IDDS_REQUEST_CACHE": str(self.root / "client" / "request_cache"),
        }

    def is_running(self) -> bool:
        """True while the server process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server (same port, same database) and wait until ``/idds/ping`` answers."""
        if self.is_running():
            return
        t0 = time.monotonic()
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SERVER_ENV_DROP)}
        env.update(
            {
                "IDDS_CONFIG": str(self.idds_cfg),
                "IDDS_AUTH_CONFIG": str(self.auth_cfg),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        cmd = [self.python, os.path.abspath(__file__), "serve", str(self.port)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root, start_new_session=True
            )
        try:
            self._wait_ready(t0 + timeout)
        except Exception:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0

    def _wait_ready(self, deadline: float) -> None:
        """Poll ``/idds/ping`` every 0.1 s until it says OK, the process dies, or time is up."""
        request = urllib.request.Request(f"{self.url}/ping", headers=self.headers)
        while time.monotonic() < deadline:
            if not self.is_running():
                raise RuntimeError(f"iDDS server exited at start:\n{self.log_tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=2) as reply:
                if reply.status == 200 and b"OK" in reply.read():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"iDDS server did not answer /idds/ping in time:\n{self.log_tail()}")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL if it lingers."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's output, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


# ---------------------------------------------------------------------------------------
# Server side: runs inside the server interpreter.


def _register_sqlite_md5() -> None:
    """Give every SQLite connection an ``md5()`` SQL function (one iDDS index uses it)."""
    import hashlib

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def md5(value: object) -> str | None:
        return None if value is None else hashlib.md5(str(value).encode()).hexdigest()

    @event.listens_for(Engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            dbapi_connection.create_function("md5", 1, md5, deterministic=True)


def serve(port: int) -> None:
    """Create the tables if missing, then serve the REST app under ``/idds`` on 127.0.0.1."""
    _register_sqlite_md5()
    from idds.orm.base import models, session

    models.register_models(session.get_engine(echo=False))
    from idds.rest.v1.app import create_app
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.serving import run_simple
    from werkzeug.wrappers import Response

    app = DispatcherMiddleware(Response("not found", status=404), {"/idds": create_app()})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        sys.exit(f"usage: {sys.argv[0]} serve PORT")
