"""The real services' venv (`make real-venv`) for the tests marked real.

Missing, it skips them on a workstation and fails them in CI (`CI=true`), where `make
test-real` builds it first: a silent skip there would hide that nothing real was tested.
"""

from __future__ import annotations

import os

import pytest

from openstackoid.testbed.real import RealTestbed, RealVenvMissing


def require_real_venv(compute: bool = False) -> None:
    """Keystone and Glance (and with `compute` Nova, Placement, Neutron) are installed where
    RealTestbed looks (OPENSTACKOID_REAL_VENV, else .venv-real)."""
    try:
        RealTestbed(clouds=1, compute=["cloud-1"] if compute else ()).venv.check(compute=compute)
    except RealVenvMissing as exc:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{exc} (CI=true: make test-real builds it)", pytrace=False)
        pytest.skip(str(exc))
