from __future__ import annotations

import pytest

from api.throttle import Throttle
from engine.errors import TooManyRequests


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_throttle_allows_the_limit_then_refuses_until_the_window_passes() -> None:
    clock = FakeClock()
    throttle = Throttle(limit=3, window=60, clock=clock)
    for _ in range(3):
        throttle.check("k", "too many")
        throttle.hit("k")
    with pytest.raises(TooManyRequests) as refused:
        throttle.check("k", "too many")
    assert 1 <= refused.value.retry_after <= 61
    throttle.check("other", "too many")
    clock.t += 61
    throttle.check("k", "too many")


def test_a_reset_clears_a_key() -> None:
    throttle = Throttle(limit=1, window=60, clock=FakeClock())
    throttle.hit("k")
    assert throttle.blocked_for("k") > 0
    throttle.reset("k")
    assert throttle.blocked_for("k") == 0
