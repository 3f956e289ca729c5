"""Properties of the mapping engine over generated callers and rule books."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from openstackoid.registry import Cloud
from openstackoid.registry.caller import CallerIdentity
from openstackoid.registry.mapping import Denial, IdentityMapping, RuleBook, decide
from openstackoid.registry.rules import credential_from_data, rule_from_data

CLOUDS = [
    Cloud(f"cloud-{i}", f"http://c{i}/v3", labels={"region": "eu" if i % 2 else "us"})
    for i in range(1, 5)
]
NAMES = st.sampled_from(["a", "b", "c"])
ROLES = st.frozensets(st.sampled_from(["admin", "member", "reader"]))

callers = st.builds(
    CallerIdentity,
    issuer=st.sampled_from([c.name for c in CLOUDS]),
    user_id=NAMES,
    user_name=NAMES,
    user_domain_id=st.just("default"),
    user_domain_name=st.just("Default"),
    project_id=st.one_of(st.none(), NAMES),
    roles=ROLES,
)


@st.composite
def rules(draw: st.DrawFn, index: int) -> dict[str, Any]:
    match: dict[str, Any] = {"issuer": draw(st.sampled_from(["*", "cloud-1", "region=eu"]))}
    if draw(st.booleans()):
        match["roles"] = {draw(st.sampled_from(["any_one_of", "not_any_of", "all_of"])): ["member"]}
    if draw(st.booleans()):
        match["user_id"] = draw(NAMES)
    action = draw(st.sampled_from(["credential", "deny", "passthrough"]))
    rule: dict[str, Any] = {
        "name": f"r{index}",
        "priority": draw(st.integers(0, 3)),
        "match": match,
        "targets": draw(st.sampled_from(["*", "cloud-2", "region=us"])),
    }
    rule[action] = "reader" if action == "credential" else True
    return rule


books = st.integers(0, 5).flatmap(lambda n: st.tuples(*(rules(i) for i in range(n))))
CREDENTIALS = [
    credential_from_data(
        {
            "cloud": c.name,
            "name": "reader",
            "application_credential_id": f"ac-{c.name}",
            "application_credential_secret": "s",
        }
    )
    for c in CLOUDS[:3]  # cloud-4 has none: rules mapping there must deny
]


def _cloud(name: str) -> Cloud:
    return next(c for c in CLOUDS if c.name == name)


@settings(max_examples=300, deadline=None)
@given(caller=callers, book=books, target=st.sampled_from(CLOUDS))
def test_the_decision_is_the_first_fitting_rule_or_deny(
    caller: CallerIdentity, book: tuple[dict[str, Any], ...], target: Cloud
) -> None:
    parsed = RuleBook([rule_from_data(r) for r in book], CREDENTIALS)
    issuer = _cloud(caller.issuer)
    decision = parsed.decide(caller, issuer, target)
    assert decision == decide(
        parsed.rules(), {c.key: c for c in CREDENTIALS}, caller, issuer, target
    )
    fitting = [r for r in parsed.rules() if r.covers(target) and r.matches(caller, issuer)]
    if target.name == caller.issuer:
        assert decision == IdentityMapping(target.name, None)
    elif not fitting:
        assert isinstance(decision, Denial) and decision.rule is None
    else:
        first = fitting[0]
        assert decision.rule == first.name
        allowed = first.action == "passthrough" or (
            first.action == "map" and target.name != "cloud-4"
        )
        assert isinstance(decision, IdentityMapping) is allowed
    if isinstance(decision, IdentityMapping) and decision.credential is not None:
        assert decision.credential.cloud == target.name  # never another cloud's credential


@settings(max_examples=200, deadline=None)
@given(book=books)
def test_rules_round_trip(book: tuple[dict[str, Any], ...]) -> None:
    for data in book:
        rule = rule_from_data(data)
        assert rule_from_data(rule.to_data()) == rule
