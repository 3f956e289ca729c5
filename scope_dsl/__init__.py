"""openstackoid: scope_dsl."""
