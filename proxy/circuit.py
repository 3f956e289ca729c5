"""Per-cloud circuit breaker: stop hammering a cloud that keeps failing."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class _State:
    failures: int = 0
    open_until: float = 0.0


class CircuitBreakers:
    """Closed -> open after `threshold` consecutive failures; after `cooldown` one trial
    request is let through (half-open): success closes, failure re-opens."""

    def __init__(self, threshold: int = 5, cooldown: float = 10.0) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._states: dict[str, _State] = {}

    def allow(self, cloud: str, now: float | None = None) -> bool:
        state = self._states.get(cloud)
        if state is None or state.failures < self.threshold:
            return True
        now = time.monotonic() if now is None else now
        if now >= state.open_until:
            state.open_until = now + self.cooldown  # one trial per cool-down
            return True
        return False

    def success(self, cloud: str) -> None:
        self._states.pop(cloud, None)

    def failure(self, cloud: str, now: float | None = None) -> None:
        state = self._states.setdefault(cloud, _State())
        state.failures += 1
        if state.failures >= self.threshold:
            state.open_until = (time.monotonic() if now is None else now) + self.cooldown

    def open_circuits(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        return [
            name
            for name, state in self._states.items()
            if state.failures >= self.threshold and now < state.open_until
        ]
