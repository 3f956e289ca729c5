"""The circuit breaker: open after N failures, one trial per cool-down, closed by success."""

from openstackoid.proxy.circuit import CircuitBreakers


def test_opens_after_the_threshold_and_lets_one_trial_through_per_cooldown() -> None:
    breakers = CircuitBreakers(threshold=3, cooldown=10.0)
    for _ in range(2):
        breakers.failure("c", now=0.0)
    assert breakers.allow("c", now=0.0) and breakers.open_circuits(now=0.0) == []
    breakers.failure("c", now=0.0)
    assert not breakers.allow("c", now=5.0)
    assert breakers.open_circuits(now=5.0) == ["c"]
    assert breakers.allow("c", now=10.0)  # the trial
    assert not breakers.allow("c", now=11.0)  # only one per cool-down
    assert breakers.allow("other", now=11.0)


def test_a_success_closes_it() -> None:
    breakers = CircuitBreakers(threshold=1, cooldown=10.0)
    breakers.failure("c", now=0.0)
    assert not breakers.allow("c", now=1.0)
    breakers.success("c")
    assert breakers.allow("c", now=1.0) and breakers.open_circuits(now=1.0) == []
