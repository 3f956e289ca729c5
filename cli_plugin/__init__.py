"""openstackoid's python-openstackclient plugin and scoped openstacksdk connections."""

from cli_plugin.hook import set_scope
from cli_plugin.library import connect, scoped

__all__ = ["connect", "scoped", "set_scope"]
