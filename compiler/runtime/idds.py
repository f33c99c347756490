"""The iDDS client side: reach iDDS (directly or through the PanDA relay), with bounded retries.

Why a wrapper around the iDDS/PanDA clients: they report failure in two different shapes
and retry on their own terms, neither of which suits a command-line tool.

- ``idds.client.clientmanager.ClientManager`` (direct, ``ClientManager(host=URL)``) never
  raises: any exception becomes ``(False, "message")``.  Its REST layer retries a refused
  connection 3 times with a random 0-30 s sleep, and waits up to 600 s for a reply.
- The PanDA relay (``pandaclient.idds_api.get_api(...)``, what the reference plugin uses)
  answers ``(status, (ok, result))``: ``status`` is panda-client's (0 = the relay answered),
  ``ok`` the relay's, and ``result`` whatever the relayed ``ClientManager`` call returned,
  so it may itself be ``(False, "message")``.

`IddsClient` turns both into a result or one `RuntimeServiceError`, retries only what is
worth retrying (`Failure`), within a bounded number of attempts and seconds, and stops at
once on an auth failure.  Both transports decode replies with iDDS's own JSON loader, so
results have the same types (enums, workflow objects) whichever way iDDS is reached.

idds and panda-client are imported on first use: ``import compiler`` must work without them.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .errors import Failure, RuntimeServiceError
from .logs import route_to_stderr
from .retry import AttemptTimedOut, RetryPolicy, Schedule, call_within
from .routes import RELAY, Route, select_route

_LOG = logging.getLogger(__name__)

# ----- failure classification ------------------------------------------------------------

_AUTH = re.compile(
    r"not allowed|is banned|no permission|permission denied|unauthori[sz]ed|forbidden"
    r"|DN cannot be found|certificate proxy cannot be found|valid x509 proxy|oidc token"
    r"|token is already expired"
    r"|Authentication|CERTIFICATE_VERIFY_FAILED|SSL secure connection is required",
    re.IGNORECASE,
)
_UNREACHED = re.compile(
    r"connection refused|failed to establish a new connection|name or service not known"
    r"|name resolution|nodename nor servname|no route to host|network is unreachable|ConnectTimeout",
    re.IGNORECASE,
)
_TRANSIENT = re.compile(
    r"timed out|timeout|connection reset|connection aborted|remote end closed|broken pipe"
    r"|bad gateway|service unavailable|gateway time-?out|internal server error|temporarily"
    r"|max retries exceeded|connection exception|ConnectionError|RemoteDisconnected",
    re.IGNORECASE,
)


def classify_failure(message: str, http_status: int | None = None) -> Failure:
    """Why a call failed, from the HTTP status when known, else from the error text.

    Auth is checked first: an untrusted certificate surfaces as a *connection* error in
    both clients, and retrying it only delays the same answer.
    """
    if http_status is not None and http_status != 200:
        if http_status in (401, 403):
            return Failure.AUTH
        return Failure.TRANSIENT if http_status >= 500 else Failure.REJECTED
    if _AUTH.search(message):
        return Failure.AUTH
    if _UNREACHED.search(message):
        return Failure.UNREACHED
    if _TRANSIENT.search(message):
        return Failure.TRANSIENT
    return Failure.REJECTED


def one_line(message: Any, limit: int = 300) -> str:
    """An error text as one short line: iDDS puts the useful part after ``Details:``."""
    text = str(message)
    if "Details:" in text:
        text = text.split("Details:", 1)[1]
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """One call's outcome in a single shape: a result, or an error with its `Failure`."""

    ok: bool
    result: Any = None
    error: str = ""
    failure: Failure | None = None

    @classmethod
    def failed(cls, message: Any, http_status: int | None = None) -> Reply:
        """A failed reply, classified from ``message`` (and the HTTP status if known)."""
        text = str(message)
        return cls(False, error=one_line(text), failure=classify_failure(text, http_status))


def _is_error_pair(ret: Any) -> bool:
    """``(False, "message")``: how ``ClientManager`` reports every exception."""
    return isinstance(ret, list | tuple) and len(ret) == 2 and ret[0] is False and isinstance(ret[1], str)


def unwrap_client_manager(ret: Any, http_status: int | None = None) -> Reply:
    """Normalise a ``ClientManager`` return value (result, or ``(False, message)``)."""
    if _is_error_pair(ret):
        return Reply.failed(ret[1], http_status)
    return Reply(True, result=ret)


def unwrap_relay(ret: Any) -> Reply:
    """Normalise a PanDA relay return value ``(status, (ok, result))``.

    ``status != 0``: the relay was not reached or answered an HTTP error (the text is
    all panda-client keeps).  ``ok`` False: the relay refused or failed.  Otherwise
    ``result`` is the relayed ``ClientManager``'s return, which may still be an error.
    """
    if not isinstance(ret, list | tuple) or len(ret) != 2:
        return Reply(
            False,
            error=f"unexpected reply from the PanDA relay: {one_line(repr(ret))}",
            failure=Failure.REJECTED,
        )
    status, payload = ret
    if status != 0:
        return Reply.failed(f"PanDA relay: {payload}")
    if not isinstance(payload, list | tuple) or len(payload) != 2:
        return Reply(
            False,
            error=f"unexpected payload from the PanDA relay: {one_line(repr(payload))}",
            failure=Failure.REJECTED,
        )
    ok, result = payload
    if not ok:
        return Reply.failed(result)
    if isinstance(result, str) and "Authentication no permission" in result:
        return Reply(False, error=one_line(result), failure=Failure.AUTH)
    return unwrap_client_manager(result)


# ----- transports ------------------------------------------------------------------------


class Transport(Protocol):
    """Makes one call to iDDS and says how it went; `IddsClient` does the retrying."""

    description: str

    def call(self, command: str, kwargs: Mapping[str, Any], timeout: float | None = None) -> Reply:
        """Call ``command`` (a ``ClientManager`` method name) with ``kwargs``.

        ``timeout`` is a hint for the client underneath; `IddsClient` enforces it anyway.
        """
        ...


class DirectTransport:
    """``ClientManager`` talking to an iDDS REST URL; records each reply's HTTP status.

    The status comes from a ``requests`` response hook, because ``ClientManager`` keeps
    only the text of an error, and "401" vs "503" is exactly what decides a retry.  It
    is kept per thread: an attempt given up on (`call_within`) may still be running.
    """

    def __init__(self, manager: Any, description: str) -> None:
        self.manager = manager
        self.description = description
        self._local = threading.local()
        manager.client.session.hooks["response"].append(self._record_status)

    @property
    def last_status(self) -> int | None:
        """The HTTP status of this thread's last reply (None before any)."""
        return getattr(self._local, "status", None)

    def _record_status(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self._local.status = int(response.status_code)

    def call(self, command: str, kwargs: Mapping[str, Any], timeout: float | None = None) -> Reply:
        """One ``ClientManager`` call; its ``(False, message)`` becomes a failed `Reply`.

        ``timeout`` becomes the client's socket timeout, so an attempt given up on by
        `call_within` also ends on its own soon after.
        """
        self._local.status = None
        if timeout is not None:
            self.manager.client.timeout = max(timeout, 0.1)
        try:
            ret = getattr(self.manager, command)(**kwargs)
        except Exception as exc:  # ClientManager catches nearly everything; this is a backstop
            ret = (False, f"{type(exc).__name__}: {exc}")
        return unwrap_client_manager(ret, self.last_status)


class RelayTransport:
    """The PanDA relay (``pandaclient.idds_api``), as the reference plugin reaches iDDS.

    panda-client waits up to 600 s for a reply and that cannot be changed from here:
    `IddsClient` bounds each attempt itself (`compiler.runtime.retry.call_within`).
    """

    def __init__(self, api: Any, description: str) -> None:
        self.api = api
        self.description = description

    def call(self, command: str, kwargs: Mapping[str, Any], timeout: float | None = None) -> Reply:
        """One relayed call, normalised with `unwrap_relay`."""
        try:
            ret = getattr(self.api, command)(**kwargs)
        except Exception as exc:
            return Reply.failed(f"{type(exc).__name__}: {exc}")
        return unwrap_relay(ret)


# ----- retrying client -------------------------------------------------------------------


class IddsClient:
    """iDDS calls that return results or raise one `RuntimeServiceError`.

    Every call follows the one `RetryPolicy` (`compiler.runtime.retry`), whatever the
    transport: each attempt bounded by ``call_timeout``, the call with its retries by
    ``budget``.  ``sleep`` and ``clock`` are injectable so the retry logic is testable
    without waiting; ``route`` says how the client was chosen (``ping -v``).
    """

    def __init__(
        self,
        transport: Transport,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        route: Route | None = None,
    ) -> None:
        self.transport = transport
        self.policy = policy or RetryPolicy()
        self.route = route
        self._sleep = sleep
        self._clock = clock

    def _attempt(self, command: str, kwargs: Mapping[str, Any], timeout: float) -> Reply:
        """One attempt, given up on after ``timeout`` seconds (a TRANSIENT failure)."""
        try:
            return call_within(
                lambda: self.transport.call(command, kwargs, timeout), timeout, f"idds-{command}"
            )
        except AttemptTimedOut as exc:
            return Reply(False, error=str(exc), failure=Failure.TRANSIENT)

    def call(self, command: str, *, idempotent: bool = True, **kwargs: Any) -> Any:
        """Call ``command`` until it succeeds, fails for good, or the policy runs out.

        Unreached calls are always retried; transient ones (time-outs, 5xx) only when
        ``idempotent`` (a submit that timed out may have created the request).  Auth and
        rejected: no retry.
        """
        schedule = Schedule(self.policy, self._clock, self._sleep)
        while True:
            reply = self._attempt(command, kwargs, schedule.next_timeout())
            if reply.ok:
                return reply.result
            retryable = reply.failure is Failure.UNREACHED or (
                idempotent and reply.failure is Failure.TRANSIENT
            )
            delay = schedule.next_delay() if retryable else None
            if delay is None:
                raise self._give_up(command, reply, schedule.attempts, schedule.elapsed, idempotent)
            _LOG.warning(
                "iDDS %s failed (%s), retrying in %.1f s: %s", command, reply.failure, delay, reply.error
            )
            schedule.wait(delay)

    def _give_up(
        self, command: str, reply: Reply, attempts: int, elapsed: float, idempotent: bool
    ) -> RuntimeServiceError:
        """The one-line error for a call that will not be tried again."""
        kind = reply.failure or Failure.REJECTED
        where = self.transport.description
        if kind is Failure.AUTH:
            text = f"iDDS {command} at {where}: not authorised: {reply.error}"
        elif kind is Failure.REJECTED:
            text = f"iDDS {command} at {where} refused: {reply.error}"
        else:
            tries = f"{attempts} attempt{'s' if attempts != 1 else ''} in {elapsed:.1f} s"
            reason = "cannot connect" if kind is Failure.UNREACHED else "no good answer"
            text = f"iDDS {command} at {where} failed after {tries} ({reason}): {reply.error}"
            if kind is Failure.TRANSIENT and not idempotent:
                text += " [it may have been applied: submitting again looks it up first]"
        return RuntimeServiceError(text, kind=kind, attempts=attempts)

    def ping(self) -> dict[str, Any]:
        """Check the service answers and accepts our credentials."""
        result = self.call("ping")
        if not (isinstance(result, Mapping) and result.get("Status") == "OK"):
            raise RuntimeServiceError(
                f"iDDS ping at {self.transport.description}: unexpected answer {result!r}"
            )
        return dict(result)

    def submit(
        self,
        workflow: Any,
        *,
        max_request_length: int | None = None,
        request_cache: str | os.PathLike[str] | None = None,
    ) -> int:
        """Submit ``workflow`` (split into steps first if it is too large); returns the request id."""
        if max_request_length and request_cache is not None:
            from .workflow import split_for_submit  # (workflow imports this module)

            for step in split_for_submit(workflow, max_request_length, request_cache):
                # re-uploading a step rewrites the same files on the server: safe to retry
                result = self.call("submit", workflow=step, username=None, use_dataset_name=False)
                if result != 0:
                    raise RuntimeServiceError(
                        f"iDDS submit of workflow step {step.step_name}: answered {result!r}"
                    )
        return self._new_request("submit", workflow)

    def submit_build(self, workflow: Any) -> int:
        """``ClientManager.submit_build`` of a remote-build workflow; returns the request id."""
        return self._new_request("submit_build", workflow)

    def _new_request(self, method: str, workflow: Any) -> int:
        """One call that makes a request: never retried on a time-out (the caller looks the
        request name up next time instead), and it must answer a request id."""
        result = self.call(method, idempotent=False, workflow=workflow, username=None, use_dataset_name=False)
        try:
            return int(result)
        except (TypeError, ValueError):
            raise RuntimeServiceError(f"iDDS {method}: answered {result!r} instead of a request id") from None

    def get_requests(
        self, request_id: int | None, *, with_detail: bool = False, with_metadata: bool = False
    ) -> list[Any]:
        """The request's rows (one per transform with ``with_detail``); ``[]`` if unknown.

        ``request_id`` None: every request the server shows.
        """
        result = self.call(
            "get_requests", request_id=request_id, with_detail=with_detail, with_metadata=with_metadata
        )
        return list(result or [])

    def request_id_by_name(self, name: str) -> int | None:
        """The id of the request named exactly ``name``, or None.

        iDDS matches names with SQL ``LIKE`` (``_`` is a wildcard there), so only the
        exact name of the answer counts.
        """
        result = self.call("get_request_id_by_name", name=name)
        if not isinstance(result, Mapping):
            return None
        found = result.get(name)
        return int(found) if found is not None else None

    def abort(self, request_id: int) -> list[str]:
        """Register an abort of the request; returns iDDS's messages."""
        return _command_messages("abort", request_id, self.call("abort", request_id=request_id))

    def retry(self, request_id: int) -> list[str]:
        """Register a retry (resume) of the request; returns iDDS's messages."""
        return _command_messages("retry", request_id, self.call("retry", request_id=request_id))


def _command_messages(command: str, request_id: int, result: Any) -> list[str]:
    """Check an abort/retry answer ``[[status, {"status", "message"}], ...]``; raise on refusal.

    iDDS answers an unknown id with status -1 "No match requests" rather than an error.
    """
    entries = result if isinstance(result, list | tuple) else [result]
    messages = []
    for entry in entries:
        body = entry[1] if isinstance(entry, list | tuple) and len(entry) == 2 else entry
        status = body.get("status") if isinstance(body, Mapping) else None
        message = body.get("message", str(body)) if isinstance(body, Mapping) else str(body)
        if status not in (0, None):
            raise RuntimeServiceError(f"iDDS {command} of request {request_id} refused: {message}")
        messages.append(str(message))
    return messages


# ----- building a client -----------------------------------------------------------------


def _import(module: str) -> Any:
    """Import an idds/panda-client module, or explain which extra is missing.

    ``IDDS_CLIENT_MODE=1`` first: with idds-server installed alongside, idds would
    otherwise believe it runs inside a server and demand a server config at import.
    Afterwards any root log handler idds pointed at stdout is moved to stderr.
    """
    os.environ.setdefault("IDDS_CLIENT_MODE", "1")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RuntimeServiceError(
            f"{module} cannot be imported ({exc}); install panda-compile[panda]", kind=Failure.CONFIG
        ) from exc
    finally:
        route_to_stderr()


def _config_value(config: Any, key: str) -> Any:
    """``key`` from a BpsConfig-like object (``search``), a mapping, or None."""
    if config is None:
        return None
    if hasattr(config, "search"):
        found, value = config.search(key, opt={"default": None})
        return value if found else None
    if isinstance(config, Mapping):
        return config.get(key)
    return None


def direct_transport(url: str, headers: Mapping[str, str] | None, policy: RetryPolicy) -> DirectTransport:
    """A ``ClientManager`` at ``url``, with its own slow retry loop turned off.

    ``IDDS_HOST`` would silently win over ``host=``, so the URL is set again afterwards.
    ``headers`` are added to every request (a test server's x509-over-headers identity).
    """
    clientmanager = _import("idds.client.clientmanager")
    manager = clientmanager.ClientManager(host=url, timeout=policy.call_timeout)
    try:
        manager.setup_client()
    except Exception as exc:
        raise RuntimeServiceError(
            f"cannot set up the iDDS client for {url}: {one_line(exc)}", kind=classify_failure(str(exc))
        ) from exc
    manager.host = url
    manager.client.host = url
    manager.client.retries = 1
    if headers:
        manager.client.session.headers.update(headers)
    return DirectTransport(manager, url)


def relay_transport(idds_host: str | None, relay: str | None = None) -> RelayTransport:
    """panda-client's relay, pointed at ``relay`` (default ``$PANDA_URL_SSL``/``$PANDA_URL``).

    panda-client reads those variables once, when first imported; they are set again
    here so a value set later (a test, a wrapper script) is honoured.
    """
    relay = relay or os.environ.get("PANDA_URL_SSL") or os.environ.get("PANDA_URL")
    if not relay:
        raise RuntimeServiceError(
            "no PanDA relay configured: set PANDA_URL_SSL or PANDA_URL", kind=Failure.CONFIG
        )
    try:
        panda_client = _import("pandaclient.Client")
    except RuntimeServiceError:
        raise
    except Exception as exc:  # it resolves the cache host at import unless PANDA_BEHIND_REAL_LB is set
        raise RuntimeServiceError(
            f"panda-client failed to start ({one_line(exc)}); is PANDA_BEHIND_REAL_LB needed?",
            kind=Failure.UNREACHED,
        ) from exc
    panda_client.baseURLSSL = relay
    panda_client.baseURL = os.environ.get("PANDA_URL") or relay
    idds_api = _import("pandaclient.idds_api")
    utils = _import("idds.common.utils")
    api = idds_api.get_api(
        utils.json_dumps, idds_host=idds_host, compress=True, manager=True, loader=utils.json_loads
    )
    target = f" -> {idds_host}" if idds_host else ""
    return RelayTransport(api, f"PanDA relay {relay}{target}")


def client_from_config(
    config: Any = None,
    *,
    url: str | None = None,
    headers: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
    environ: Mapping[str, str] | None = None,
) -> IddsClient:
    """An `IddsClient` on the route `compiler.runtime.routes.select_route` picks.

    ``--url``, else the PanDA relay (``PANDA_URL_SSL``/``PANDA_URL``, with the config's
    ``iddsServer`` behind it), else ``$IDDS_HOST``, else the config's ``iddsServer``;
    a source that loses to another is logged as a warning naming both.  ``config`` may
    also set ``iddsRetryAttempts``/``iddsRetryBudget``/``iddsCallTimeout``.
    """
    policy = policy or RetryPolicy.from_config(config)
    route = select_route(url, os.environ if environ is None else environ, _config_value(config, "iddsServer"))
    for warning in route.warnings:
        _LOG.warning("%s", warning)
    if route.kind == RELAY:
        transport: Transport = relay_transport(route.idds_host, route.url)
    else:
        transport = direct_transport(route.url, headers, policy)
    return IddsClient(transport, policy, route=route)
