"""The circuit breaker's way back: one trial after the cool-down, success closes, failure
re-opens. Time is passed in (`now=`): nothing sleeps."""

from openstackoid.proxy.circuit import CircuitBreakers

T0 = 1_000.0


def _opened(threshold: int = 3, cooldown: float = 10.0) -> CircuitBreakers:
    breakers = CircuitBreakers(threshold=threshold, cooldown=cooldown)
    for n in range(threshold):
        assert breakers.allow("c1", now=T0 + n)
        breakers.failure("c1", now=T0 + n)
    return breakers


def test_opens_after_threshold_consecutive_failures_only() -> None:
    breakers = CircuitBreakers(threshold=3, cooldown=10.0)
    breakers.failure("c1", now=T0)
    breakers.failure("c1", now=T0)
    breakers.success("c1")  # not consecutive: counting starts again
    breakers.failure("c1", now=T0)
    breakers.failure("c1", now=T0)
    assert breakers.allow("c1", now=T0) and breakers.open_circuits(now=T0) == []
    breakers.failure("c1", now=T0)
    assert not breakers.allow("c1", now=T0 + 1)
    assert breakers.open_circuits(now=T0 + 1) == ["c1"]
    assert breakers.allow("c2", now=T0 + 1)  # per cloud


def test_a_single_trial_after_the_cooldown() -> None:
    breakers = _opened()
    opened_at = T0 + 2  # the third failure
    assert not breakers.allow("c1", now=opened_at + 9.999)
    assert breakers.allow("c1", now=opened_at + 10.0)  # the trial
    # While the trial is out, everyone else is still refused.
    assert not breakers.allow("c1", now=opened_at + 10.0)
    assert not breakers.allow("c1", now=opened_at + 15.0)


def test_a_successful_trial_closes_the_circuit() -> None:
    breakers = _opened()
    assert breakers.allow("c1", now=T0 + 12)
    breakers.success("c1")
    assert all(breakers.allow("c1", now=T0 + 12) for _ in range(5))
    assert breakers.open_circuits(now=T0 + 12) == []
    # Closed means counting from zero: it takes `threshold` failures to open again.
    breakers.failure("c1", now=T0 + 13)
    breakers.failure("c1", now=T0 + 13)
    assert breakers.allow("c1", now=T0 + 13)


def test_a_failed_trial_reopens_for_a_whole_cooldown() -> None:
    breakers = _opened()
    trial = T0 + 12
    assert breakers.allow("c1", now=trial)
    breakers.failure("c1", now=trial)
    assert breakers.open_circuits(now=trial) == ["c1"]
    assert not breakers.allow("c1", now=trial + 9.999)
    assert breakers.allow("c1", now=trial + 10.0)  # the next single trial
    assert not breakers.allow("c1", now=trial + 10.0)
