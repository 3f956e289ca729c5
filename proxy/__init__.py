"""openstackoid: proxy."""
