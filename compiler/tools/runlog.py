"""What a local run records: one JSON line per job, and the per-label table at the end.

A job ends in one of three states: ``succeeded`` (exit 0), ``failed`` (non-zero exit,
killed by a signal as 128+N, timed out, or its inputs could not be copied) or
``blocked`` (never started: a job it needs failed, or the run stopped first). Every
selected job gets exactly one line, written when its state is final, so the log can be
followed while the run goes on.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from typing import TextIO

SUCCEEDED, FAILED, BLOCKED = "succeeded", "failed", "blocked"
STATES = (SUCCEEDED, FAILED, BLOCKED)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One line of the log. Times are seconds since the epoch (None: never started)."""

    task: str
    label: str
    name: str
    status: str
    exit_code: int | None
    start: float | None
    end: float | None
    folder: str | None
    reason: str | None = None  # why it failed or was blocked, in words


class RunLog:
    """The JSON-lines log, one line per job as its state becomes final, plus the tally."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.records: list[JobRecord] = []

    def add(self, record: JobRecord) -> None:
        """Write one job's line (flushed: the log is readable while the run goes on)."""
        self.records.append(record)
        self.stream.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
        self.stream.flush()

    def counts(self) -> Counter[str]:
        """status -> number of jobs."""
        return Counter(r.status for r in self.records)


def label_table(records: list[JobRecord]) -> str:
    """Per label, in first-seen order: succeeded / failed / blocked and the exit codes seen."""
    rows: dict[str, Counter[str]] = {}
    codes: dict[str, Counter[int]] = {}
    for r in records:
        rows.setdefault(r.label, Counter())[r.status] += 1
        if r.status == FAILED and r.exit_code is not None:
            codes.setdefault(r.label, Counter())[r.exit_code] += 1
    width = max([len("label"), *(len(label) for label in rows)])
    lines = [f"{'label':<{width}}  {'succeeded':>9}  {'failed':>6}  {'blocked':>7}  exit codes"]
    for label, row in rows.items():
        seen = ", ".join(f"{code}: {n}" for code, n in sorted(codes.get(label, Counter()).items()))
        lines.append(f"{label:<{width}}  {row[SUCCEEDED]:>9}  {row[FAILED]:>6}  {row[BLOCKED]:>7}  {seen}")
    total = Counter(r.status for r in records)
    lines.append(f"{'total':<{width}}  {total[SUCCEEDED]:>9}  {total[FAILED]:>6}  {total[BLOCKED]:>7}")
    return "\n".join(lines)
