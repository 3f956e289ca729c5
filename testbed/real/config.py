"""Where one real cloud keeps its files, and the Keystone and Glance config files it runs with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openstackoid.testbed.model import DOMAIN_NAME, PASSWORD, PROJECT_NAME, REGION, USERNAME


@dataclass(frozen=True)
class CloudDirs:
    """The files of one cloud, all under its own directory."""

    root: Path

    @property
    def keystone_conf(self) -> Path:
        return self.root / "keystone.conf"

    @property
    def keystone_db(self) -> Path:
        return self.root / "keystone.sqlite"

    @property
    def fernet_keys(self) -> Path:
        return self.root / "fernet-keys"

    @property
    def credential_keys(self) -> Path:
        return self.root / "credential-keys"

    @property
    def glance_dir(self) -> Path:
        """Glance reads ``glance-api.conf`` from a directory (OS_GLANCE_CONFIG_DIR)."""
        return self.root / "glance"

    @property
    def glance_conf(self) -> Path:
        return self.glance_dir / "glance-api.conf"

    @property
    def glance_db(self) -> Path:
        return self.root / "glance.sqlite"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def nova_dir(self) -> Path:
        """nova-api reads ``nova.conf`` and ``api-paste.ini`` here (OS_NOVA_CONFIG_DIR)."""
        return self.root / "nova"

    @property
    def placement_dir(self) -> Path:
        """Placement reads ``placement.conf`` here (OS_PLACEMENT_CONFIG_DIR)."""
        return self.root / "placement"

    @property
    def neutron_dir(self) -> Path:
        return self.root / "neutron"

    def log(self, service: str) -> Path:
        return self.root / f"{service}.log"

    def access_log(self, service: str) -> Path:
        """One JSON line per request the service received (see ``_wsgi_entry``)."""
        return self.root / f"{service}.access.jsonl"

    def make(self) -> None:
        for path in (self.root, self.glance_dir, self.images):
            path.mkdir(parents=True, exist_ok=True)
        for name in ("staging", "tasks"):
            (self.root / name).mkdir(exist_ok=True)
        # keystone-manage creates the key repositories itself but refuses world-readable ones.
        self.root.chmod(0o700)

    def make_compute(self) -> None:
        for path in (self.nova_dir, self.placement_dir, self.neutron_dir):
            path.mkdir(parents=True, exist_ok=True)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def password_auth(section: str, url: str, username: str, password: str, project: str) -> str:
    """A keystoneauth password section: a user of the cloud's Keystone at ``url``."""
    return f"""\
[{section}]
auth_type = password
auth_url = {url}
username = {username}
password = {password}
project_name = {project}
user_domain_name = {DOMAIN_NAME}
project_domain_name = {DOMAIN_NAME}
region_name = {REGION}
"""


def authtoken(url: str, username: str, password: str, project: str) -> str:
    """keystonemiddleware's section: how a service validates the tokens it is sent."""
    section = password_auth("keystone_authtoken", url, username, password, project)
    return section + f"www_authenticate_uri = {url}\n"


def keystone_conf(dirs: CloudDirs) -> str:
    # Four bcrypt rounds (the minimum) instead of twelve: tokens are issued in milliseconds.
    return f"""\
[DEFAULT]
use_stderr = true

[database]
connection = {sqlite_url(dirs.keystone_db)}

[token]
provider = fernet

[fernet_tokens]
key_repository = {dirs.fernet_keys}

[credential]
key_repository = {dirs.credential_keys}

[identity]
password_hash_rounds = 4

[cache]
enabled = false
"""


def glance_conf(dirs: CloudDirs, identity_url: str, paste_ini: Path) -> str:
    """``identity_url`` is Keystone's unversioned root; Glance validates tokens there as admin."""
    return f"""\
[DEFAULT]
use_stderr = true
enabled_backends = fs:file

[database]
connection = {sqlite_url(dirs.glance_db)}

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = {dirs.images}

[os_glance_staging_store]
filesystem_store_datadir = {dirs.root / "staging"}

[os_glance_tasks_store]
filesystem_store_datadir = {dirs.root / "tasks"}

[paste_deploy]
flavor = keystone
config_file = {paste_ini}

""" + authtoken(identity_url, USERNAME, PASSWORD, PROJECT_NAME)
