"""The one retry policy of every path to iDDS: direct client, PanDA relay, BPS plugin.

Why its own module: the clients underneath bound nothing the way a command-line tool
needs.  idds-client retries a refused connection 3 times with random 0-30 s sleeps and
waits for a reply as long as its ``timeout``; panda-client waits up to 600 s (a
hard-coded httpx timeout) whatever we ask.  So the bound is kept *here*, the same for
both: every attempt runs in a worker thread and is given up on when its time is up
(`call_within`), and `Schedule` decides whether another attempt fits.

**The guarantee** (stated in the README): one iDDS call, with all its retries, returns
or fails within ``budget`` seconds (``iddsRetryBudget``) of its start, the last attempt
included.  Each attempt is given ``min(call_timeout, budget left)`` (``iddsCallTimeout``);
no attempt starts when less than `MIN_ATTEMPT` seconds of the budget would be left after
its back-off sleep; at most ``attempts`` (``iddsRetryAttempts``) attempts are made.  The
only overshoot is thread scheduling (milliseconds).  An attempt given up on keeps its
thread until the client underneath returns (a daemon thread: it never delays exit); its
answer is discarded.  That is why a timed-out *submit* may still create its request, and
why submit looks the request up by name before submitting again
(`compiler.runtime.submission_key`).

Nothing here imports idds or panda-client.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..errors import ConfigError

MIN_ATTEMPT = 0.5
"""Seconds an attempt needs at least; a retry that would get less is not started."""


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one iDDS call: attempts, back-off, per-attempt timeout, total budget.

    Defaults: 4 attempts, back-off 0.5, 1, 2 s (doubling, capped at ``max_delay``), each
    attempt at most 30 s, everything within 60 s.  A refused connection is given up on
    after about 3.5 s; a server that never answers after 60 s (two attempts).
    """

    attempts: int = 4
    first_delay: float = 0.5
    max_delay: float = 4.0
    budget: float = 60.0
    call_timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in ("attempts", "budget", "call_timeout"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"retry policy: {name} must be positive, not {getattr(self, name)!r}")

    def delays(self) -> list[float]:
        """Sleep before attempt 2, 3, ...: doubling from ``first_delay``, capped."""
        return [min(self.first_delay * 2**i, self.max_delay) for i in range(max(self.attempts - 1, 0))]

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> RetryPolicy:
        """The policy of ``iddsRetryAttempts``/``iddsRetryBudget``/``iddsCallTimeout`` (those set)."""
        keys = {
            "attempts": "iddsRetryAttempts",
            "budget": "iddsRetryBudget",
            "call_timeout": "iddsCallTimeout",
        }
        kwargs: dict[str, Any] = {}
        for field, key in keys.items():
            value = settings.get(key)
            if value in (None, ""):
                continue
            try:
                number = int(value) if field == "attempts" else float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"config key '{key}': {value!r} is not a number") from None
            if number <= 0:
                raise ConfigError(f"config key '{key}': {value!r} must be positive")
            kwargs[field] = number
        return cls(**kwargs)

    @classmethod
    def from_config(cls, config: Any) -> RetryPolicy:
        """The policy of a config (``BpsConfig``-like with ``search``, a mapping, or None)."""
        keys = ("iddsRetryAttempts", "iddsRetryBudget", "iddsCallTimeout")
        settings: dict[str, Any] = {}
        for key in keys:
            if hasattr(config, "search"):
                found, value = config.search(key, opt={"default": None})
                settings[key] = value if found else None
            elif isinstance(config, Mapping):
                settings[key] = config.get(key)
        return cls.from_settings(settings)


class Schedule:
    """The attempts of one call under a `RetryPolicy`: timeouts, back-off, the deadline.

    ``clock`` and ``sleep`` are injectable so the arithmetic is tested without waiting.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._sleep = sleep
        self.start = clock()
        self.deadline = self.start + policy.budget
        self.attempts = 0
        self._delays: Iterator[float] = iter(policy.delays())

    @property
    def elapsed(self) -> float:
        """Seconds since the first attempt started."""
        return self._clock() - self.start

    def next_timeout(self) -> float:
        """Start an attempt: its timeout, ``min(call_timeout, budget left)``."""
        self.attempts += 1
        return max(min(self.policy.call_timeout, self.deadline - self._clock()), 0.0)

    def next_delay(self) -> float | None:
        """The back-off before another attempt, or None if none fits in attempts or budget."""
        delay = next(self._delays, None)
        if delay is None or self.deadline - self._clock() - delay < MIN_ATTEMPT:
            return None
        return delay

    def wait(self, delay: float) -> None:
        """Sleep the back-off."""
        self._sleep(delay)


class AttemptTimedOut(Exception):
    """An attempt did not finish within its timeout (the call underneath is abandoned)."""


def call_within(func: Callable[[], Any], timeout: float, name: str = "idds-call") -> Any:
    """``func()``'s result, or raise `AttemptTimedOut` after ``timeout`` seconds.

    ``func`` runs in a daemon thread; an exception it raises is re-raised here.  A thread
    whose time is up is left to finish on its own: no Python client can be interrupted
    mid-call, and a daemon thread does not keep the process alive.
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["result"] = func()
        except BaseException as exc:  # handed to the caller, whatever it is
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    if not done.wait(timeout):
        raise AttemptTimedOut(f"no answer within {timeout:.1f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
