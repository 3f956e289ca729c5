"""Mapping rules: parsing with one-line errors, the engine's default deny and first match."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from openstackoid.registry import Cloud, Credentials, Registry
from openstackoid.registry.caller import CallerIdentity, caller_from_token, group_ids
from openstackoid.registry.errors import InvalidRuleError
from openstackoid.registry.mapping import Denial, IdentityMapping, RuleBook, decide, problems
from openstackoid.registry.rules import credential_from_data, rule_from_data

CLOUDS = {
    name: Cloud(name, f"http://{name}/identity/v3", labels=labels, groups=frozenset(groups))
    for name, labels, groups in [
        ("cloud-1", {"region": "eu"}, ["core"]),
        ("cloud-2", {"region": "us"}, ["edge"]),
        ("cloud-3", {"region": "eu"}, ["edge"]),
        ("cloud-4", {"region": "us"}, []),
    ]
}
MEMBER = CallerIdentity(
    issuer="cloud-1",
    user_id="u-1",
    user_name="demo",
    user_domain_id="default",
    user_domain_name="Default",
    project_id="p-1",
    project_name="demo",
    project_domain_id="default",
    project_domain_name="Default",
    roles=frozenset({"member", "reader"}),
)
READER_CRED: dict[str, Any] = {
    "cloud": "cloud-3",
    "name": "reader",
    "application_credential_id": "ac-3",
    "application_credential_secret": "s3cret-ac",
}


def _rule(**extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "name": "members-read-eu",
        "match": {"issuer": "cloud-1", "roles": "member"},
        "targets": ["region=eu"],
        "credential": "reader",
    }
    rule.update(extra)
    return rule


def _book(*rules: dict[str, Any]) -> RuleBook:
    return RuleBook([rule_from_data(r) for r in rules], [credential_from_data(READER_CRED)])


def _decide(book: RuleBook, caller: CallerIdentity, target: str) -> IdentityMapping | Denial:
    return book.decide(caller, CLOUDS[caller.issuer], CLOUDS[target])


def test_no_rule_denies_naming_issuer_user_project_and_target() -> None:
    denial = _decide(RuleBook(), MEMBER, "cloud-3")
    assert isinstance(denial, Denial)
    message = denial.message
    for needle in ("cloud-1", "demo (u-1)", "project demo (p-1)", "'cloud-3'", "no mapping rule"):
        assert needle in message


def test_own_cloud_needs_no_rule_and_keeps_the_callers_token() -> None:
    mapping = _decide(RuleBook(), MEMBER, "cloud-1")
    assert mapping == IdentityMapping("cloud-1", None)
    assert mapping.identity == "caller's own token"


def test_rule_maps_to_the_credential_registered_at_the_target() -> None:
    mapping = _decide(_book(_rule()), MEMBER, "cloud-3")
    assert isinstance(mapping, IdentityMapping)
    assert mapping.rule == "members-read-eu"
    assert mapping.credential is not None and mapping.credential.key == ("cloud-3", "reader")
    assert mapping.identity == "reader@cloud-3 (application credential ac-3)"
    assert "s3cret" not in repr(mapping)


def vars_of(caller: CallerIdentity, **changes: Any) -> CallerIdentity:
    return replace(caller, **changes)


def test_rule_needs_every_condition() -> None:
    book = _book(_rule())
    assert isinstance(_decide(book, MEMBER, "cloud-2"), Denial)  # region=us: not a target
    reader_only = vars_of(MEMBER, roles=frozenset({"reader"}))
    assert isinstance(_decide(book, reader_only, "cloud-3"), Denial)
    other_issuer = vars_of(MEMBER, issuer="cloud-2")
    assert isinstance(_decide(book, other_issuer, "cloud-3"), Denial)


def test_missing_credential_at_a_covered_target_fails_closed() -> None:
    book = _book(_rule(targets=["@edge"]))  # covers cloud-2 and cloud-3; reader only at 3
    denial = _decide(book, vars_of(MEMBER), "cloud-2")
    assert isinstance(denial, Denial) and "not registered at that cloud" in denial.reason
    assert isinstance(_decide(book, MEMBER, "cloud-3"), IdentityMapping)


def test_first_rule_by_priority_then_name_decides() -> None:
    deny = {
        "name": "no-demo",
        "priority": 10,
        "match": {"issuer": "*", "user_id": "u-1"},
        "targets": "*",
        "deny": True,
    }
    book = _book(_rule(), deny)
    denial = _decide(book, MEMBER, "cloud-3")
    assert isinstance(denial, Denial) and denial.rule == "no-demo"
    book.upsert_rule(rule_from_data({**deny, "priority": 200}))
    assert isinstance(_decide(book, MEMBER, "cloud-3"), IdentityMapping)


def test_passthrough_rule_sends_the_callers_own_token() -> None:
    rule = {
        "name": "shared-keystone",
        "match": {"issuer": "@core"},
        "targets": "cloud-4",
        "passthrough": True,
    }
    mapping = _decide(_book(rule), MEMBER, "cloud-4")
    assert mapping == IdentityMapping("cloud-4", "shared-keystone")


@pytest.mark.parametrize(
    ("condition", "allowed"),
    [
        ({"roles": {"all_of": ["member", "reader"]}}, True),
        ({"roles": {"all_of": ["member", "admin"]}}, False),
        ({"roles": {"not_any_of": ["reader"]}}, False),
        ({"roles": ["admin", "member"]}, True),
        ({"project_id": "p-1"}, True),
        ({"project_id": "p-2"}, False),
        ({"project_name": "demo", "project_domain": "default"}, True),
        ({"project_name": "demo", "project_domain": "Other"}, False),
        ({"user_name": "demo", "user_domain": "Default"}, True),
        ({"user_id": {"not_any_of": ["u-1"]}}, False),
        ({"groups": "g-1"}, False),
    ],
)
def test_conditions(condition: dict[str, Any], allowed: bool) -> None:
    book = _book(_rule(match={"issuer": "cloud-1", **condition}))
    assert isinstance(_decide(book, MEMBER, "cloud-3"), IdentityMapping) is allowed


def test_groups_come_from_federated_tokens() -> None:
    body = {"token": {"user": {"id": "u", "OS-FEDERATION": {"groups": [{"id": "g-1"}]}}}}
    caller = caller_from_token("cloud-1", body)
    book = _book(_rule(match={"issuer": "cloud-1", "groups": "g-1"}))
    assert isinstance(_decide(book, caller, "cloud-3"), IdentityMapping)


def test_a_caller_of_another_issuer_is_refused() -> None:
    denial = decide((), {}, MEMBER, CLOUDS["cloud-2"], CLOUDS["cloud-3"])
    assert isinstance(denial, Denial) and "validated by 'cloud-1'" in denial.reason


def test_decisions_follow_rule_and_registry_changes() -> None:
    book = _book(_rule())
    assert isinstance(_decide(book, MEMBER, "cloud-3"), IdentityMapping)
    book.remove_rule("members-read-eu")
    assert isinstance(_decide(book, MEMBER, "cloud-3"), Denial)
    book.upsert_rule(rule_from_data(_rule()))
    moved = Cloud("cloud-3", "http://cloud-3/identity/v3", labels={"region": "us"})
    assert isinstance(book.decide(MEMBER, CLOUDS["cloud-1"], CLOUDS["cloud-3"], 1), IdentityMapping)
    assert isinstance(book.decide(MEMBER, CLOUDS["cloud-1"], moved, 2), Denial)


def test_decision_cache_is_bounded() -> None:
    book = RuleBook([rule_from_data(_rule())], [credential_from_data(READER_CRED)], max_decisions=8)
    for i in range(100):
        _decide(book, vars_of(MEMBER, user_id=f"u-{i}"), "cloud-3")
    assert len(book._decisions) <= 8


def test_caller_from_keystone_answer() -> None:
    body = {
        "token": {
            "user": {"id": "u-1", "name": "demo", "domain": {"id": "default", "name": "Default"}},
            "project": {
                "id": "p-1",
                "name": "demo",
                "domain": {"id": "default", "name": "Default"},
            },
            "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}],
            "expires_at": "2030-01-01T00:00:00.000000Z",
        }
    }
    assert caller_from_token("cloud-1", body) == MEMBER


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"token": []},
        {"token": {"user": {}}},
        {"token": {"user": {"id": 3}}},
        {"token": {"user": {"id": "u"}, "roles": "admin"}},
    ],
)
def test_caller_from_a_broken_answer_raises(body: Any) -> None:
    with pytest.raises(ValueError):
        caller_from_token("cloud-1", body)


def test_system_scoped_token_has_no_project() -> None:
    caller = caller_from_token("cloud-1", {"token": {"user": {"id": "u"}, "system": {"all": True}}})
    assert caller.project_id is None and "no project" in caller.describe()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_rule(credential=3), "body 'members-read-eu': credential: 3 is not of type 'string'"),
        ({k: v for k, v in _rule().items() if k != "credential"}, "exactly one of"),
        (_rule(deny=True), "exactly one of"),
        (_rule(match={"roles": "member"}), "'issuer' is a required property"),
        (_rule(match={"issuer": "cloud-1", "role": "member"}), "'role' was unexpected"),
        (
            _rule(match={"issuer": "cloud-1", "user_name": "alice"}),
            "match.user_name needs match.user_domain",
        ),
        (_rule(targets=["a & b"]), "targets/0: 'a & b' is an expression"),
        (_rule(targets=["{"]), "targets/0: '{' is no cloud selector"),
        (_rule(name="bad name"), "body 'bad name': name: 'bad name' does not match"),
        (
            {**_rule(deny=True), "credential": None},
            "body 'members-read-eu': credential: None is not of type",
        ),
        (
            {k: v for k, v in _rule(deny=True, allow_admin=True).items() if k != "credential"},
            "allow_admin only applies",
        ),
    ],
)
def test_invalid_rules_say_what_and_where_in_one_line(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRuleError) as caught:
        rule_from_data(data, "body")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cloud": "c", "name": "n", "application_credential_id": "x"}, "secret is missing"),
        ({"cloud": "c", "name": "n", "username": "u", "password": "p"}, "missing project_name"),
        ({**READER_CRED, "username": "u"}, "drop username"),
        ({"cloud": "c", "name": "n", "token": "t"}, "'token' was unexpected"),
    ],
)
def test_invalid_credentials(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRuleError, match=message):
        credential_from_data(data)


def test_credentials_never_show_secrets() -> None:
    app = credential_from_data(READER_CRED)
    password = credential_from_data(
        {
            "cloud": "cloud-4",
            "name": "ops",
            "username": "ops",
            "password": "pw-secret",
            "project_name": "demo",
        }
    )
    for credential in (app, password):
        shown = (
            repr(credential) + str(credential) + repr(credential.to_data()) + credential.identity
        )
        assert "s3cret" not in shown and "pw-secret" not in shown
    assert app.to_data(with_secrets=True)["application_credential_secret"] == "s3cret-ac"
    assert password.identity == "ops@cloud-4 (user ops@Default, project demo@Default)"


def test_rules_round_trip_through_their_data() -> None:
    rule = rule_from_data(
        _rule(
            match={
                "issuer": ["cloud-1", "@core"],
                "roles": {"all_of": ["member"]},
                "user_id": {"not_any_of": ["u-9"]},
            },
            priority=5,
            allow_admin=True,
            description="why",
        )
    )
    assert rule_from_data(rule.to_data()) == rule


def test_problems_name_operator_accounts_unknown_clouds_and_unmapped_rules() -> None:
    registry = Registry(
        [
            CLOUDS["cloud-1"],
            Cloud(
                "cloud-3",
                "http://c3/v3",
                labels={"region": "eu"},
                credentials=Credentials(username="admin", password="x", project_name="admin"),
            ),
        ]
    )
    book = RuleBook(
        [rule_from_data(_rule()), rule_from_data(_rule(name="nowhere", credential="ghost"))],
        [
            credential_from_data(
                {
                    "cloud": "cloud-3",
                    "name": "admin",
                    "username": "admin",
                    "password": "x",
                    "project_name": "admin",
                }
            ),
            credential_from_data({**READER_CRED, "cloud": "cloud-9"}),
        ],
    )
    found = problems(book, registry)
    assert any("'admin' of cloud 'cloud-3' is the account" in p for p in found)
    assert any("no cloud 'cloud-9'" in p for p in found)
    assert any("'nowhere': credential 'ghost' is registered at none" in p for p in found)
    assert any("'members-read-eu': credential 'reader'" in p for p in found)


def test_a_token_bound_to_access_rules_stays_at_its_cloud() -> None:
    body = {
        "token": {
            "user": {"id": "u-1"},
            "roles": [{"name": "member"}],
            "application_credential": {"id": "ac", "access_rules": [{"path": "/v2/images"}]},
        }
    }
    caller = caller_from_token("cloud-1", body)
    assert caller.access_rules
    denial = _decide(_book(_rule()), caller, "cloud-3")
    assert isinstance(denial, Denial) and "access rules" in denial.reason
    assert isinstance(_decide(_book(_rule()), caller, "cloud-1"), IdentityMapping)
    plain = {"token": {**body["token"], "application_credential": {"id": "ac"}}}
    assert not caller_from_token("cloud-1", plain).access_rules


def test_unknown_groups_neither_pass_an_allow_rule_nor_escape_a_deny_rule() -> None:
    deny = {"name": "no-contractors", "priority": 1,
            "match": {"issuer": "cloud-1", "groups": "contractors"}, "targets": "*",
            "deny": True}  # fmt: skip
    book = _book(_rule(), deny)
    unknown = _decide(book, MEMBER, "cloud-3")  # MEMBER.groups is None: never asked
    assert isinstance(unknown, Denial) and "groups, which are unknown" in unknown.reason
    assert isinstance(
        _decide(book, vars_of(MEMBER, groups=frozenset()), "cloud-3"), IdentityMapping
    )
    contractor = vars_of(MEMBER, groups=frozenset({"contractors"}))
    denial = _decide(book, contractor, "cloud-3")
    assert isinstance(denial, Denial) and denial.rule == "no-contractors"
    # A rule about other clouds needs no groups here.
    assert isinstance(_decide(_book(_rule(), {**deny, "targets": "cloud-2"}), MEMBER, "cloud-3"),
                      IdentityMapping)  # fmt: skip
    assert book.uses_groups and not _book(_rule()).uses_groups


def test_group_lists_parse() -> None:
    assert group_ids({"groups": [{"id": "g1", "name": "a"}, {"id": "g2"}]}) == {"g1", "g2"}
    with pytest.raises(ValueError):
        group_ids({"groups": "g1"})
