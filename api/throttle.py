"""Sliding-window throttles for logins, tracking look-ups and objections (per process)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

from engine.errors import TooManyRequests


class Throttle:
    """At most `limit` events per `window` seconds for each key."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        events = self._events[key]
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def blocked_for(self, key: str) -> int:
        """Seconds until `key` may try again (0: it may now)."""
        with self._lock:
            now = self._clock()
            events = self._trim(key, now)
            if len(events) < self.limit:
                return 0
            return max(1, int(events[0] + self.window - now) + 1)

    def hit(self, key: str) -> None:
        with self._lock:
            now = self._clock()
            self._trim(key, now).append(now)

    def check(self, key: str, message: str) -> None:
        wait = self.blocked_for(key)
        if wait:
            raise TooManyRequests(f"{message}（请 {wait} 秒后再试）/ try again in {wait} s", wait)

    def reset(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


class Throttles:
    """The app's throttles, one instance per app."""

    def __init__(self) -> None:
        # Failed logins lock the address that made them, and an address's guesses at one account
        # sooner; an account's owner logging in from elsewhere is not locked out by someone else's
        # guesses, short of a ceiling high enough to need many addresses.
        self.login_pair = Throttle(limit=5, window=15 * 60)
        self.login_address = Throttle(limit=20, window=15 * 60)
        self.login_user = Throttle(limit=100, window=15 * 60)
        self.track_misses = Throttle(limit=10, window=10 * 60)
        self.track_address = Throttle(limit=60, window=60)
        self.objections = Throttle(limit=5, window=10 * 60)
