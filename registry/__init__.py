"""The clouds openstackoid can reach: model, indexes, import and storage."""

from openstackoid.registry.caller import CallerIdentity, caller_from_token
from openstackoid.registry.clouds_yaml import load_clouds_yaml
from openstackoid.registry.errors import (
    InvalidCloudError,
    InvalidRuleError,
    RegistryError,
    UnknownCloudError,
)
from openstackoid.registry.index import Registry
from openstackoid.registry.mapping import Decision, Denial, IdentityMapping, RuleBook, decide
from openstackoid.registry.model import Cloud, Credentials
from openstackoid.registry.registry_file import load_registry_file, validate_cloud
from openstackoid.registry.rules import (
    MappingRule,
    TargetCredential,
    credential_from_data,
    rule_from_data,
)
from openstackoid.registry.rules_file import load_rules_file
from openstackoid.registry.store import MemoryStore, SqliteStore, Store

__all__ = [
    "CallerIdentity",
    "Cloud",
    "Credentials",
    "Decision",
    "Denial",
    "IdentityMapping",
    "InvalidCloudError",
    "InvalidRuleError",
    "MappingRule",
    "MemoryStore",
    "Registry",
    "RegistryError",
    "RuleBook",
    "SqliteStore",
    "Store",
    "TargetCredential",
    "UnknownCloudError",
    "caller_from_token",
    "credential_from_data",
    "decide",
    "load_clouds_yaml",
    "load_registry_file",
    "load_rules_file",
    "rule_from_data",
    "validate_cloud",
]
