"""openstackoid: registry."""
