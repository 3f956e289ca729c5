"""openstackoid: testbed."""
