"""A circuit breaker per upstream: stop calling a model that keeps failing, probe it again later.

The classic three-state breaker (Nygard, *Release It!*, 2nd ed., ch. 5 "Circuit Breaker"; the same
states as Envoy's outlier detection and resilience4j):

* **closed**: requests pass. ``failures`` consecutive failures (a 429 or 5xx answer, a timeout, a
  refused or dropped connection) open it; any success resets the count.
* **open**: requests skip the upstream without calling it, for ``cooldown_s`` seconds.
* **half-open**: when the cooldown has passed, exactly one request (the *probe*) is let through;
  requests arriving while the probe is in flight still skip it. The probe's success closes the
  breaker; its failure opens it for another cooldown. A probe that ends without a verdict (its
  request was cancelled, or it never got a concurrency slot) hands the probe to the next request.

State lives in the process: with ``--workers N`` each worker has its own breakers and learns an
upstream's failures from its own traffic (a down upstream costs each worker ``failures`` calls
before that worker stops calling it). The clock is injectable (``clock=``, monotonic seconds) so
tests can step time. Not thread-safe: the gateway uses it from its event loop only.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections.abc import Callable

__all__ = ["DEFAULT_COOLDOWN_S", "DEFAULT_FAILURES", "BreakerState", "CircuitBreaker"]

logger = logging.getLogger(__name__)

#: consecutive failures that open a breaker
DEFAULT_FAILURES = 5
#: seconds an open breaker waits before letting a probe through
DEFAULT_COOLDOWN_S = 30.0


class BreakerState(enum.IntEnum):
    """The breaker's state; the value is the ``routerlab_breaker_state`` gauge's."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """One upstream's breaker (see the module doc): ``allow()`` before a call, then ``success()``/``failure()``."""

    def __init__(
        self,
        name: str,
        *,
        failures: int = DEFAULT_FAILURES,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_settings(failures, cooldown_s)
        self.name = name
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None  # set while open or half-open
        self._probing = False  # a half-open probe is in flight

    @property
    def state(self) -> BreakerState:
        """The state now: an open breaker whose cooldown has passed reads half-open."""
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probing or self._clock() - self._opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """Whether a request may call the upstream now; True for a half-open breaker's one probe."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN or self._probing:
            return False
        self._probing = True
        logger.info("circuit of %s half-open: one probe request goes through", self.name)
        return True

    def success(self) -> None:
        """The call succeeded: the breaker closes (a probe's success) or its failure count resets."""
        if self._opened_at is not None:
            logger.info("circuit of %s closed: the probe succeeded", self.name)
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failure(self) -> None:
        """The call failed: count it, opening the breaker at the threshold (a failed probe reopens at once)."""
        if self._opened_at is not None:  # a failed probe (or a late failure of a call made before it opened)
            self._open()
            return
        self._failures += 1
        if self._failures >= self.threshold:
            self._open()

    def abandon(self) -> None:
        """The call that :meth:`allow` let through ends without a verdict: a half-open probe is handed back."""
        self._probing = False

    def _open(self) -> None:
        logger.warning("circuit of %s open for %gs after %d failures", self.name, self.cooldown_s, self._failures)
        self._opened_at = self._clock()
        self._probing = False


def check_settings(failures: int, cooldown_s: float) -> None:
    """A ValueError naming the setting unless ``failures`` is an int >= 1 and ``cooldown_s`` a number >= 0."""
    if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
        raise ValueError(
            f"breaker failures must be an integer >= 1 (consecutive failures that open it); got {failures!r}."
        )
    if not (isinstance(cooldown_s, int | float) and math.isfinite(cooldown_s) and cooldown_s >= 0):
        raise ValueError(f"breaker cooldown must be a finite number of seconds >= 0; got {cooldown_s!r}.")
