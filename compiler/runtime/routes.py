"""Which way iDDS is reached, and why: the route selection the README documents.

Why its own module: the route depends on three sources (``--url``, the environment,
the config) that can disagree, and a silent choice is what made ``IDDS_HOST`` ignored
without a word.  `select_route` is pure (environment and settings are arguments), so
every combination is tested without a server; the client side (`compiler.runtime.idds`)
only builds what it says.

The order, first match wins:

1. ``--url URL``: directly to that iDDS REST URL;
2. ``PANDA_URL_SSL`` or ``PANDA_URL`` set: the PanDA relay, as ``bps`` does; the config's
   ``iddsServer`` (if any) names the iDDS instance behind the relay;
3. ``IDDS_HOST`` set: directly to it;
4. the config's ``iddsServer``: directly to it;
5. otherwise: an error saying what to set.

A source that is set but loses to an earlier one is reported as a warning naming both
(``IDDS_HOST`` next to ``PANDA_URL``; ``iddsServer`` next to a different ``IDDS_HOST``);
``--url`` overrides the rest without a warning, being asked for explicitly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from .errors import Failure, RuntimeServiceError

DIRECT = "direct"
RELAY = "relay"


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """A chosen route: ``kind`` (direct/relay), where to, why, and what it overrode."""

    kind: str
    url: str
    """The iDDS REST URL (direct) or the PanDA relay's base URL (relay)."""
    idds_host: str | None = None
    """Relay only: the iDDS instance the relay is asked to use (``iddsServer``)."""
    reason: str = ""
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for ``ping -v``: the route and what chose it."""
        if self.kind == RELAY:
            behind = self.idds_host or "the relay's default iDDS"
            return f"route: PanDA relay {self.url} -> {behind} ({self.reason})"
        return f"route: direct to iDDS {self.url} ({self.reason})"


def select_route(url: str | None, environ: Mapping[str, str], idds_server: str | None) -> Route:
    """The route for ``--url`` (or None), the environment and the config's ``iddsServer``."""
    relay = environ.get("PANDA_URL_SSL") or environ.get("PANDA_URL")
    relay_var = "PANDA_URL_SSL" if environ.get("PANDA_URL_SSL") else "PANDA_URL"
    idds_host = environ.get("IDDS_HOST") or None
    idds_server = str(idds_server) if idds_server else None
    warnings: list[str] = []
    if url:  # asked for on the command line: overriding the environment is the point
        return Route(DIRECT, url, reason="--url")
    if relay:
        if idds_host and idds_host != idds_server:
            target = f"iddsServer {idds_server}" if idds_server else "the relay's default iDDS"
            warnings.append(
                f"IDDS_HOST={idds_host} is ignored: {relay_var}={relay} selects the PanDA relay"
                f" (to {target}); unset {relay_var} or give --url to go direct"
            )
        return Route(RELAY, relay, idds_server, reason=f"{relay_var} is set", warnings=tuple(warnings))
    if idds_host:
        if idds_server and idds_server != idds_host:
            warnings.append(
                f"config iddsServer {idds_server} is ignored: IDDS_HOST={idds_host} is set and wins"
            )
        return Route(DIRECT, idds_host, reason="IDDS_HOST is set", warnings=tuple(warnings))
    if idds_server:
        return Route(DIRECT, idds_server, reason="config iddsServer")
    raise RuntimeServiceError(
        "no iDDS service configured: set PANDA_URL_SSL/PANDA_URL (PanDA relay) or IDDS_HOST,"
        " set iddsServer in the config, or give --url",
        kind=Failure.CONFIG,
    )
