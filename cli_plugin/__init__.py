"""openstackoid's python-openstackclient plugin and scoped openstacksdk connections."""

from openstackoid.cli_plugin.hook import set_scope
from openstackoid.cli_plugin.library import connect, scoped

__all__ = ["connect", "scoped", "set_scope"]
