"""The PanDA OIDC token that relay submissions use: status, clean, reset, refresh.

The same four operations as the reference's ``panda_auth`` command, through panda-client's
own helpers (``pandaclient.openidc_utils.OpenIdConnect_Utils``: where the token lives,
how it is decoded, checked, refreshed and removed), so the token panda-compile looks at
is the one panda-client sends. The token file is ``$PANDA_CONFIG_ROOT/.token``
(panda-client's default folder is the current one).

Differences from the reference, on purpose: a missing or broken token is one line and
exit status 1 (the reference prints ``[ERROR] ...`` and exits 0, or raises a traceback
for a token without a ``name`` claim); ``status`` and ``clean`` only need the token
folder, not the five PanDA variables the reference insists on; ``refresh``'s network
calls are bounded by the `RetryPolicy`'s per-call timeout (the reference waits as long
as the server does). ``reset`` runs panda-client's device sign-in, which waits for the
user by design, so it is not bounded.

Nothing here prints or returns a token, a refresh token or a client secret: only claims
(issued, expires, name, e-mail, groups, organisation) and file names.
"""

from __future__ import annotations

import datetime
import glob
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import Failure, RuntimeServiceError
from .idds import _import, one_line
from .retry import AttemptTimedOut, RetryPolicy, call_within

_CLIENT_LOG = logging.getLogger("pandaclient.openidc")
"""panda-client's helper logs here (its own words on a bad token file; ours is the one line)."""
DEFAULT_REFRESH_DAYS = 4
"""``refresh`` refuses a token that is valid for longer than this (the reference's default)."""


class AuthError(RuntimeServiceError):
    """A token operation cannot be done; the message says why and what to run instead."""

    def __init__(self, message: str, kind: Failure = Failure.AUTH) -> None:
        super().__init__(message, kind=kind)


def _openid(auth_config_url: str | None = None) -> Any:
    """panda-client's helper for the token folder (``$PANDA_CONFIG_ROOT``)."""
    module = _import("pandaclient.openidc_utils")
    return module.OpenIdConnect_Utils(auth_config_url, log_stream=_CLIENT_LOG, verbose=False)


def _utc(epoch: Any) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromtimestamp(float(epoch), tz=datetime.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _when(moment: datetime.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "unknown"


@dataclass(frozen=True, slots=True)
class TokenStatus:
    """What the token file says about its token (claims only, never the token)."""

    filename: str
    valid: bool  # panda-client would send it as it is (more than 5 minutes left)
    issued: datetime.datetime | None
    expires: datetime.datetime | None
    name: str
    email: str
    groups: tuple[str, ...]
    organisation: str

    @property
    def expiry(self) -> str:
        """When the token expires, as printed."""
        return _when(self.expires)

    def lines(self, now: datetime.datetime | None = None) -> list[str]:
        """The status as ``label: value`` lines (what ``auth status`` prints)."""
        now = now or datetime.datetime.now(datetime.UTC)
        state = "valid" if self.valid else "expired or expiring within 5 minutes (run `auth refresh`)"
        if self.expires is not None and self.valid:
            state += f", {(self.expires - now).total_seconds() / 86400:.1f} days left"
        rows = [
            ("Filename", self.filename),
            ("State", state),
            ("Valid starting", _when(self.issued)),
            ("Expires", _when(self.expires)),
            ("Name", self.name),
            ("Email", self.email),
            ("Groups", ",".join(self.groups)),
            ("Organization", self.organisation),
        ]
        return [f"{label + ':':15} {value}" for label, value in rows]


def _claims_status(filename: str, valid: bool, claims: Mapping[str, Any]) -> TokenStatus:
    groups = claims.get("groups") or ()
    return TokenStatus(
        filename=filename,
        valid=valid,
        issued=_utc(claims.get("iat")),
        expires=_utc(claims.get("exp")),
        name=str(claims.get("name", "")),
        email=str(claims.get("email", "")),
        groups=tuple(str(g) for g in groups) if isinstance(groups, list | tuple) else (str(groups),),
        organisation=str(claims.get("organisation_name", "")),
    )


def status() -> TokenStatus | None:
    """The token's status, or None when there is no token file.

    A token file that panda-client cannot decode is an `AuthError` naming the file.
    """
    openid = _openid()
    filename = openid.get_token_path()
    if not os.path.exists(filename):
        return None
    valid, _token, claims = openid.check_token()  # the token itself is dropped here
    if claims is None:
        valid, claims = False, _decode_claims(filename)
    return _claims_status(filename, bool(valid), claims)


def _decode_claims(filename: str) -> dict[str, Any]:
    """The ID token's claims from the token file, or an `AuthError` naming the file."""
    module = _import("pandaclient.openidc_utils")
    try:
        with open(filename, encoding="utf-8") as fh:
            data = json.load(fh)
        claims = module.decode_id_token(data["id_token"])
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise AuthError(
            f"token file {filename} cannot be decoded ({type(exc).__name__}); `auth clean` removes it,"
            " `auth reset` gets a new token"
        ) from None
    if not isinstance(claims, dict):
        raise AuthError(f"token file {filename}: its ID token holds no claims; run `auth reset`")
    return claims


def clean() -> list[str]:
    """Remove the token and panda-client's cached auth pages; the files removed."""
    openid = _openid()
    token_dir = openid.token_dir
    names = sorted(
        {*glob.glob(os.path.join(token_dir, ".token*")), *glob.glob(os.path.join(token_dir, ".page_cache_*"))}
    )
    try:
        openid.cleanup()
    except OSError as exc:
        raise AuthError(
            f"cannot remove the token files in {token_dir}: {exc.strerror}", Failure.CONFIG
        ) from None
    return [name for name in names if not os.path.exists(name)]


def _require(environ: Mapping[str, str], keys: tuple[str, ...], command: str) -> None:
    missing = [key for key in keys if not environ.get(key)]
    if missing:
        raise AuthError(f"auth {command} needs {', '.join(missing)} set (as for bps)", Failure.CONFIG)


def relay_sign_in(idds_host: str | None) -> Any:
    """Ask the PanDA relay something, so panda-client runs its OIDC sign-in (the network call).

    As the reference does it: the relay client checks the token, refreshes it, or starts
    the device flow and waits for the user to sign in.
    """
    idds_api = _import("pandaclient.idds_api")
    utils = _import("idds.common.utils")
    manager = idds_api.get_api(
        utils.json_dumps, idds_host=idds_host, compress=True, manager=True, verbose=False
    )
    return manager.get_status(request_id=0, with_detail=False)


def reset(
    environ: Mapping[str, str] | None = None,
    idds_host: str | None = None,
    sign_in: Callable[[str | None], Any] | None = None,
) -> TokenStatus | None:
    """Remove the token and get a new one (panda-client's device sign-in); the new status.

    ``sign_in`` is the network call (default `relay_sign_in`).
    """
    env = os.environ if environ is None else environ
    sign_in = sign_in or relay_sign_in
    _require(env, ("PANDA_AUTH", "PANDA_AUTH_VO", "PANDA_URL_SSL", "PANDA_URL"), "reset")
    clean()
    try:
        reply = sign_in(idds_host)
    except SystemExit:  # panda-client exits when the device flow fails (it logged why)
        raise AuthError("auth reset: panda-client's sign-in failed (see its message above)") from None
    except Exception as exc:  # panda-client raising instead of answering
        raise AuthError(f"auth reset: the PanDA relay sign-in failed: {one_line(exc)}") from None
    _check_sign_in_reply(reply)
    return status()


def _check_sign_in_reply(reply: Any) -> None:
    """The relay's answer is ``(0, (True, ...))`` once signed in; anything else is an error."""
    ok = isinstance(reply, list | tuple) and len(reply) == 2 and reply[0] == 0
    inner = reply[1] if ok else None
    if not (ok and isinstance(inner, list | tuple) and inner and inner[0]):
        raise AuthError(f"auth reset: the PanDA relay did not accept the sign-in: {one_line(reply)}")


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What ``refresh`` did: refreshed (with the new status) or not needed yet (and why)."""

    refreshed: bool
    message: str
    status: TokenStatus | None = None


def _auth_config_url(environ: Mapping[str, str]) -> str:
    """Where the VO's OIDC client settings are, as the reference derives it from PANDA_URL."""
    prefix = environ["PANDA_URL"].split("/server", 1)[0]
    return f"{prefix}/auth/{environ['PANDA_AUTH_VO']}_auth_config.json"


def _bounded(func: Callable[[], Any], what: str, policy: RetryPolicy) -> Any:
    """One network call of panda-client, given up on after the policy's call timeout."""
    try:
        return call_within(func, policy.call_timeout, "panda-auth")
    except AttemptTimedOut:
        raise AuthError(
            f"auth refresh: {what}: no answer within {policy.call_timeout:.0f} s", Failure.TRANSIENT
        ) from None


def refresh(
    days: float = DEFAULT_REFRESH_DAYS,
    environ: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
    now: datetime.datetime | None = None,
) -> Refreshed:
    """Refresh a valid token that expires within ``days`` (panda-client's refresh-token grant)."""
    env = os.environ if environ is None else environ
    _require(env, ("PANDA_URL", "PANDA_AUTH_VO"), "refresh")
    policy = policy or RetryPolicy()
    openid = _openid(_auth_config_url(env))
    filename = openid.get_token_path()
    if not os.path.exists(filename):
        raise AuthError(f"no token file {filename}: run `auth reset` to get a token")
    expires = _utc(_decode_claims(filename).get("exp"))
    now = now or datetime.datetime.now(datetime.UTC)
    if expires is None:
        raise AuthError(f"token file {filename}: its ID token has no expiry; run `auth reset`")
    if expires <= now:
        raise AuthError(
            f"the token in {filename} expired at {expires:%Y-%m-%d %H:%M:%S} UTC: run `auth reset`"
        )
    if expires - now > datetime.timedelta(days=days):
        left = (expires - now).total_seconds() / 86400
        return Refreshed(
            False, f"not refreshed: the token is valid for {left:.1f} more days (over --days {days:g})"
        )
    refresh_string = _refresh_token(filename)
    settings = _fetch(openid, openid.auth_config_url, "the auth configuration", policy)
    endpoints = _fetch(openid, settings.get("oidc_config_url"), "the OIDC endpoint configuration", policy)
    ok, answer = _bounded(
        lambda: openid.refresh_token(
            endpoints.get("token_endpoint"),
            settings.get("client_id"),
            settings.get("client_secret"),
            refresh_string,
        ),
        "the token endpoint",
        policy,
    )
    if not ok:
        raise AuthError(f"auth refresh: the token endpoint refused the refresh: {one_line(answer)}")
    return Refreshed(True, "token refreshed", status())


def _refresh_token(filename: str) -> str:
    try:
        with open(filename, encoding="utf-8") as fh:
            value = json.load(fh).get("refresh_token")
    except (OSError, ValueError, AttributeError) as exc:
        raise AuthError(f"token file {filename} cannot be read ({type(exc).__name__})") from None
    if not isinstance(value, str) or not value:
        raise AuthError(f"token file {filename} holds no refresh token: run `auth reset`")
    return value


def _fetch(openid: Any, url: Any, what: str, policy: RetryPolicy) -> dict[str, Any]:
    """A JSON page through panda-client's ``fetch_page`` (cached an hour in the token folder)."""
    if not isinstance(url, str) or not url:
        raise AuthError(f"auth refresh: no URL for {what} in the auth configuration", Failure.REJECTED)
    ok, page = _bounded(lambda: openid.fetch_page(url), f"{what} ({url})", policy)
    if not ok or not isinstance(page, dict):
        raise AuthError(f"auth refresh: cannot get {what} from {url}: {one_line(page)}", Failure.UNREACHED)
    return page
