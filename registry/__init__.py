"""The clouds openstackoid can reach: model, indexes, import and storage."""

from registry.caller import CallerIdentity, caller_from_token
from registry.clouds_yaml import load_clouds_yaml
from registry.errors import InvalidCloudError, InvalidRuleError, RegistryError, UnknownCloudError
from registry.index import Registry
from registry.mapping import Decision, Denial, IdentityMapping, RuleBook, decide
from registry.model import Cloud, Credentials
from registry.registry_file import load_registry_file, validate_cloud
from registry.rules import MappingRule, TargetCredential, credential_from_data, rule_from_data
from registry.rules_file import load_rules_file
from registry.store import MemoryStore, SqliteStore, Store

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
