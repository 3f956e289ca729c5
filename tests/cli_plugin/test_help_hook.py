import subprocess

from openstackoid.testbed.cli_runner import openstack_executable


def test_scope_shows_in_the_help_of_scoped_commands() -> None:
    result = subprocess.run(
        [openstack_executable(), "server", "create", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--scope <scope>" in result.stdout
    assert "keystone: cloud-1; glance: cloud-999" in result.stdout
