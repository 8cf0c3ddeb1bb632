"""greentic-runner: a multi-tenant runtime host for Greentic packs.

The public API is re-exported here; everything else is internal and may change.
"""

from __future__ import annotations

from .activity import Activity, ActivityKind, WelcomeFlowHint
from .config import Fast2FlowConfig, HostConfig, RetryConfig, SecretsPolicy, WebhookPolicy
from .envelope import IngressEnvelope
from .errors import (
    ActivityError,
    ComponentError,
    ConfigError,
    FlowError,
    PackError,
    ProviderError,
    RoutingError,
    RunnerError,
    SecretsError,
    SessionError,
    StoreError,
    TenantError,
    VerificationError,
)
from .host import HostBuilder, RunnerHost, TenantHandle
from .runtime_loader import PackRef
from .storage.config import StorageConfig, Stores, open_stores
from .tenancy import ReplyScope, TenantCtx

__version__ = "0.1.0"

__all__ = [
    "Activity",
    "ActivityError",
    "ActivityKind",
    "ComponentError",
    "ConfigError",
    "Fast2FlowConfig",
    "FlowError",
    "HostBuilder",
    "HostConfig",
    "IngressEnvelope",
    "PackError",
    "PackRef",
    "ProviderError",
    "ReplyScope",
    "RetryConfig",
    "RoutingError",
    "RunnerError",
    "RunnerHost",
    "SecretsError",
    "SecretsPolicy",
    "SessionError",
    "StorageConfig",
    "StoreError",
    "Stores",
    "TenantCtx",
    "TenantError",
    "TenantHandle",
    "VerificationError",
    "WebhookPolicy",
    "WelcomeFlowHint",
    "open_stores",
]
