"""The clouds openstackoid can reach: model, indexes, import and storage."""

from registry.clouds_yaml import load_clouds_yaml
from registry.errors import InvalidCloudError, RegistryError, UnknownCloudError
from registry.index import Registry
from registry.model import Cloud, Credentials
from registry.registry_file import load_registry_file, validate_cloud
from registry.store import MemoryStore, SqliteStore, Store

__all__ = [
    "Cloud",
    "Credentials",
    "InvalidCloudError",
    "MemoryStore",
    "Registry",
    "RegistryError",
    "SqliteStore",
    "Store",
    "UnknownCloudError",
    "load_clouds_yaml",
    "load_registry_file",
    "validate_cloud",
]
