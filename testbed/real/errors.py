"""Errors of the real testbed."""


class RealTestbedError(RuntimeError):
    """A real cloud could not be created, started or reached; the message shows its log."""


class RealVenvMissing(RealTestbedError):
    """The venv holding Keystone, Glance and gunicorn is not there: run ``make real-venv``."""


class BackingServiceDown(RealTestbedError):
    """MariaDB or RabbitMQ, which a compute cloud needs, is not answering."""
