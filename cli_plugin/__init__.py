"""openstackoid: cli_plugin."""
