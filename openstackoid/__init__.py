"""openstackoid: one OpenStack user, thousands of independent clouds, scoped per request.

The installed names live under this package so that no top-level name (`proxy`, `registry`,
...) can clash with another distribution's; in the repository each is a top-level folder.
"""
