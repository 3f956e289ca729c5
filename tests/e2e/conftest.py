from tests.proxy.conftest import federation, make_federation  # noqa: F401  (fixtures)
