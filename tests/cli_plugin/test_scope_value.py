import argparse

import pytest
from keystoneauth1 import session as ksa_session
from openstack.config import loader

from openstackoid.cli_plugin import set_scope
from openstackoid.cli_plugin.plugin import build_option_parser
from openstackoid.cli_plugin.scope_value import ScopeOption, scope_argument, scope_from_config


def test_scope_argument_parses_and_is_not_a_string() -> None:
    option = scope_argument("{keystone: cloud-1; glance: cloud-999}")
    assert isinstance(option, ScopeOption)
    assert not hasattr(option, "format")  # openstack.config only str.format()s strings
    assert str(option) == "{identity: cloud-1; image: cloud-999}"


def test_bad_scope_is_an_argparse_error_with_the_caret() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"(?s)column 10.*\^"):
        scope_argument("{glance: }")


@pytest.mark.parametrize(
    "value",
    [
        {"keystone": "cloud-1", "glance": "cloud-2"},
        "{keystone: cloud-1; glance: cloud-2}",
        '{"identity": "cloud-1", "image": "cloud-2"}',
        scope_argument("{image: cloud-2; identity: cloud-1}"),
    ],
)
def test_every_config_form_gives_the_same_scope(value: object) -> None:
    scope = scope_from_config(value)
    assert scope is not None and str(scope) == "{identity: cloud-1; image: cloud-2}"


def test_no_scope() -> None:
    assert scope_from_config(None) is None and scope_from_config("") is None


def test_set_scope_uses_keystoneauth_additional_headers() -> None:
    session = ksa_session.Session()
    set_scope(session, "{glance: cloud-2}")
    assert session.additional_headers["X-Scope"] == "{image: cloud-2}"
    set_scope(session, None)
    assert "X-Scope" not in session.additional_headers


def test_scope_strings_are_excluded_from_str_format() -> None:
    assert "scope" in loader.FORMAT_EXCLUSIONS


def test_global_options_strip_to_config_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_SCOPE", "{keystone: cloud-7}")
    parser = build_option_parser(argparse.ArgumentParser())
    options, rest = parser.parse_known_args(
        ["server", "create", "--image", "cirros", "--scope", "{glance: cloud-9}", "vm"]
    )
    assert rest == ["server", "create", "--image", "cirros", "vm"]
    assert str(options.os_scope) == "{image: cloud-9}"
    assert options.os_vendor_hook == "openstackoid.cli_plugin.hook:attach_scope"
    # openstacksdk's _fix_args strips the os_ prefix: the config keys are scope, vendor_hook.
    fixed = loader.OpenStackConfig(load_yaml_config=False)._fix_args(argparse=options)
    assert "scope" in fixed and fixed["vendor_hook"] == "openstackoid.cli_plugin.hook:attach_scope"
    options, _ = parser.parse_known_args(["image", "list"])
    assert str(options.os_scope) == "{identity: cloud-7}"  # from OS_SCOPE
