"""``list``: the requests iDDS shows, with what an operator needs to tell them apart.

Why its own module: "the call may have been applied: check before repeating it" is only
actionable if the operator can see *which* request belongs to which OUTDIR.  Each row
has the id, the workflow name, the status, the creation time and the OUTDIR's
submission key, read back from the request name (`compiler.runtime.submission_key`).
Pure functions over ``get_requests`` rows: tested on replayed rows without a server.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from .report import status_name
from .submission_key import split_request_name

COLUMNS = ("ID", "NAME", "STATUS", "CREATED", "KEY")


@dataclasses.dataclass(frozen=True, slots=True)
class ListedRequest:
    """One request of ``list``; ``key`` is empty for requests panda-compile did not name."""

    request_id: int
    name: str
    status: str
    created: str
    key: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``list --json``)."""
        return dataclasses.asdict(self)


def _created(value: Any) -> str:
    """A creation time as ISO text (iDDS gives a datetime, or a string over some routes)."""
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return "" if value is None else str(value)


def listed_requests(rows: Iterable[Mapping[str, Any]]) -> list[ListedRequest]:
    """One `ListedRequest` per request id (iDDS may repeat a request per transform), by id."""
    seen: dict[int, ListedRequest] = {}
    for row in rows:
        if row.get("request_id") is None:
            continue
        number = int(row["request_id"])
        if number in seen:
            continue
        workflow, key, forced = split_request_name(str(row.get("name") or ""))
        shown_key = f"{key}.f{forced}" if forced else key
        status = status_name(row.get("status")) or "?"
        seen[number] = ListedRequest(number, workflow, status, _created(row.get("created_at")), shown_key)
    return [seen[n] for n in sorted(seen)]


def render_table(requests: list[ListedRequest]) -> str:
    """The ``list`` table: a header, then one aligned row per request (ids right-aligned)."""
    rows = [list(COLUMNS)] + [
        [str(r.request_id), r.name, r.status, r.created or "-", r.key or "-"] for r in requests
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for row in rows:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.rjust(w) if i == 0 else c.ljust(w) for i, (c, w) in pairs]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
