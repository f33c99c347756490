"""`panda-compile auth`: status and clean on a token file made here; refresh/reset up to the network.

The token folder is ``$PANDA_CONFIG_ROOT`` (panda-client's), pointed at a tmp folder. The
network calls (panda-client's ``fetch_page``/``refresh_token``, the relay sign-in) are
replaced by recorders, so each test shows the call was reached with the right URL and
that no secret is ever printed.
"""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.runtime import auth

SECRETS = ("SECRET-REFRESH", "SECRET-CLIENT", "SIGNATURE")
NOW = datetime.datetime.now(datetime.UTC)


def id_token(**claims: Any) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJub25lIn0.{payload}.SIGNATURE"


def write_token(folder: Path, expires_in: datetime.timedelta, **extra: Any) -> Path:
    claims = {
        "iat": int((NOW - datetime.timedelta(days=1)).timestamp()),
        "exp": int((NOW + expires_in).timestamp()),
        "name": "Vera Rubin",
        "email": "vera@example.org",
        "groups": ["Rubin", "Rubin/production"],
        "organisation_name": "Rubin",
        **extra,
    }
    path = folder / ".token"
    path.write_text(json.dumps({"id_token": id_token(**claims), "refresh_token": "SECRET-REFRESH"}))
    return path


@pytest.fixture
def token_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "panda-config"
    folder.mkdir()
    monkeypatch.setenv("PANDA_CONFIG_ROOT", str(folder))
    for key, value in {
        "PANDA_URL": "https://panda.test:8443/server/panda",
        "PANDA_URL_SSL": "https://panda.test:8443/server/panda",
        "PANDA_AUTH": "oidc",
        "PANDA_AUTH_VO": "Rubin",
        "PANDA_VERIFY_HOST": "off",
    }.items():
        monkeypatch.setenv(key, value)
    return folder


def run(*args: str) -> Any:
    result = CliRunner().invoke(main, ["auth", *args])
    for secret in SECRETS:
        assert secret not in result.output
    return result


def test_status_prints_claims_never_the_token(token_dir: Path) -> None:
    path = write_token(token_dir, datetime.timedelta(days=3))
    result = run("status")
    assert result.exit_code == 0, result.output
    assert f"Filename:       {path}" in result.output
    assert "State:          valid, 3.0 days left" in result.output
    assert "Name:           Vera Rubin" in result.output
    assert "Email:          vera@example.org" in result.output
    assert "Groups:         Rubin,Rubin/production" in result.output
    assert "eyJhbGciOiJub25lIn0" not in result.output


def test_status_of_an_expired_or_missing_or_broken_token(token_dir: Path) -> None:
    assert run("status").output == "No token found\n"
    write_token(token_dir, datetime.timedelta(minutes=-10))
    assert "State:          expired or expiring within 5 minutes" in run("status").output
    (token_dir / ".token").write_text("{not json")
    result = run("status")
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert f"token file {token_dir / '.token'} cannot be decoded" in line


def test_clean_removes_the_token_and_cached_pages_only(token_dir: Path) -> None:
    write_token(token_dir, datetime.timedelta(days=3))
    (token_dir / ".page_cache_1234").write_text("{}")
    (token_dir / "keep.txt").write_text("mine")
    result = run("clean")
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "removed 2 files"
    assert sorted(p.name for p in token_dir.iterdir()) == ["keep.txt"]
    assert run("clean").output == "removed 0 files\n"
    assert run("status").output == "No token found\n"


def test_refresh_refuses_too_early_expired_and_missing(token_dir: Path) -> None:
    result = run("refresh")
    assert result.exit_code == 1 and "no token file" in result.output and "auth reset" in result.output
    write_token(token_dir, datetime.timedelta(days=10))
    result = run("refresh", "--days", "4")
    assert result.exit_code == 0 and "not refreshed: the token is valid for 10.0 more days" in result.output
    write_token(token_dir, datetime.timedelta(hours=-1))
    result = run("refresh")
    assert result.exit_code == 1 and "expired at" in result.output


class Recorder:
    """Stands in for panda-client's network methods of OpenIdConnect_Utils."""

    def __init__(self, pages: dict[str, Any], refreshed: tuple[bool, Any] = (True, "new")) -> None:
        self.pages = pages
        self.refreshed = refreshed
        self.fetched: list[str] = []
        self.refresh_calls: list[tuple[Any, ...]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from pandaclient import openidc_utils

        recorder = self

        def fetch_page(self: Any, url: str) -> tuple[bool, Any]:
            recorder.fetched.append(url)
            return (
                (True, recorder.pages[url]) if url in recorder.pages else (False, "code=404. reason=offline")
            )

        def refresh_token(
            self: Any, endpoint: str, client_id: str, secret: str, refresh: str
        ) -> tuple[bool, Any]:
            recorder.refresh_calls.append((endpoint, client_id, secret, refresh))
            if recorder.refreshed[0]:
                write_token(Path(self.token_dir), datetime.timedelta(days=30))
            return recorder.refreshed

        monkeypatch.setattr(openidc_utils.OpenIdConnect_Utils, "fetch_page", fetch_page)
        monkeypatch.setattr(openidc_utils.OpenIdConnect_Utils, "refresh_token", refresh_token)


AUTH_URL = "https://panda.test:8443/auth/Rubin_auth_config.json"
PAGES = {
    AUTH_URL: {
        "oidc_config_url": "https://iam.test/.well-known",
        "client_id": "cid",
        "client_secret": "SECRET-CLIENT",
    },
    "https://iam.test/.well-known": {"token_endpoint": "https://iam.test/token"},
}


def test_refresh_reaches_the_auth_configuration(token_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_token(token_dir, datetime.timedelta(days=2))
    recorder = Recorder({})
    recorder.install(monkeypatch)
    result = run("refresh")
    assert recorder.fetched == [AUTH_URL]  # derived from PANDA_URL and PANDA_AUTH_VO, as the reference
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert f"cannot get the auth configuration from {AUTH_URL}" in line


def test_refresh_uses_the_refresh_token_grant(token_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_token(token_dir, datetime.timedelta(days=2))
    recorder = Recorder(PAGES)
    recorder.install(monkeypatch)
    result = run("refresh")
    assert result.exit_code == 0, result.output
    assert recorder.refresh_calls == [("https://iam.test/token", "cid", "SECRET-CLIENT", "SECRET-REFRESH")]
    assert result.output.startswith("token refreshed\nthe token expires ")
    # a refusal of the token endpoint is one line
    recorder.refreshed = (False, "code=400. reason=invalid_grant")
    write_token(token_dir, datetime.timedelta(days=2))
    result = run("refresh")
    assert result.exit_code == 1 and "refused the refresh: code=400. reason=invalid_grant" in result.output


def test_reset_cleans_then_signs_in_through_the_relay(
    token_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_token(token_dir, datetime.timedelta(days=1), name="Old Token")
    seen: list[Any] = []

    def sign_in(idds_host: str | None) -> Any:
        seen.append((idds_host, (token_dir / ".token").exists()))
        write_token(token_dir, datetime.timedelta(days=30))
        return 0, (True, [{"request_id": 0, "status": "New"}])

    monkeypatch.setattr(auth, "relay_sign_in", sign_in)
    result = run("reset")
    assert result.exit_code == 0, result.output
    assert seen == [(None, False)]  # the old token was removed before signing in
    assert result.output.startswith("signed in; the token expires ")

    def refused(idds_host: str | None) -> Any:
        return 0, (False, "not authorised")

    monkeypatch.setattr(auth, "relay_sign_in", refused)
    result = run("reset")
    assert result.exit_code == 1 and "did not accept the sign-in" in result.output


def test_reset_needs_the_panda_environment(token_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PANDA_AUTH_VO")
    result = run("reset")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: auth reset needs PANDA_AUTH_VO set (as for bps)"
