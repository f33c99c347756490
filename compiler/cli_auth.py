"""``panda-compile auth status|reset|clean|refresh [--days N]``: the PanDA OIDC token.

The reference ships these as ``panda_auth``; the work is done by `compiler.runtime.auth`
through panda-client's own OIDC helpers. A failure is one line on stderr and exit 1;
nothing printed holds a token or a secret.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from .errors import CompileError


def _one_line_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run with the clients' logging quiet; a `CompileError` becomes ``Error: <one line>``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .runtime.logs import quiet_clients

        try:
            with quiet_clients():
                return func(*args, **kwargs)
        except CompileError as exc:
            raise click.ClickException(" ".join(str(exc).split())) from exc

    return wrapper


@click.group("auth")
def auth() -> None:
    """The PanDA OIDC token relay submissions use ($PANDA_CONFIG_ROOT/.token)."""


@auth.command("status")
@_one_line_errors
def status() -> None:
    """Print the token's claims and expiry (never the token)."""
    from .runtime.auth import status as token_status

    found = token_status()
    if found is None:
        click.echo("No token found")
        return
    for line in found.lines():
        click.echo(line)


@auth.command("clean")
@_one_line_errors
def clean() -> None:
    """Remove the token and panda-client's cached auth pages."""
    from .runtime.auth import clean as clean_tokens

    removed = clean_tokens()
    click.echo(
        f"removed {len(removed)} file{'s' if len(removed) != 1 else ''}"
        + "".join(f"\n  {n}" for n in removed)
    )


@auth.command("reset")
@_one_line_errors
def reset() -> None:
    """Remove the token and sign in again (panda-client's device flow: follow the link it prints)."""
    from .runtime.auth import reset as reset_token

    found = reset_token()
    click.echo("signed in" if found is None else f"signed in; the token expires {found.expiry}")


@auth.command("refresh")
@click.option(
    "--days", default=4.0, show_default=True, type=float, help="Refresh only if it expires within N days."
)
@_one_line_errors
def refresh(days: float) -> None:
    """Refresh a valid token that expires within --days."""
    from .runtime.auth import refresh as refresh_token

    done = refresh_token(days)
    click.echo(done.message)
    if done.status is not None:
        click.echo(f"the token expires {done.status.expiry}")
