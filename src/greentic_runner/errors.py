"""The one exception tree of greentic-runner.

::

    RunnerError
     ├── ConfigError          bindings / configuration files and environment
     ├── ActivityError        malformed activity or envelope input (HTTP 422)
     ├── TenantError          unknown / unloaded tenant or revision (HTTP 404)
     ├── PackError            pack loading, formats, digests
     │    └── VerificationError   SBOM / signature / pin failures
     ├── RoutingError         flow resolution, fast2flow, welcome override (HTTP 404)
     ├── FlowError            flow compilation and execution
     ├── ComponentError       component invocation (mocks or WebAssembly)
     ├── ProviderError        provider registry, identify, invoke
     ├── SecretsError         secrets lookup and policy
     └── StoreError           session / state backends (HTTP 503)
          └── SessionError     session-store contract violations (alignment, missing keys)

Messages keep the reference wording where the spec gives one; they always name the
offending tenant, pack, flow, node, file or key.
"""

from __future__ import annotations


class RunnerError(Exception):
    """Base class of every error greentic-runner raises on purpose."""

    code = "runner_error"

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(RunnerError):
    code = "invalid_config"


class ActivityError(RunnerError):
    code = "invalid_activity"


class TenantError(RunnerError):
    code = "unknown_tenant"


class PackError(RunnerError):
    code = "pack_error"


class VerificationError(PackError):
    code = "verification_failed"


class RoutingError(RunnerError):
    code = "routing_error"


class FlowError(RunnerError):
    code = "flow_error"


class ComponentError(RunnerError):
    code = "component_error"


class ProviderError(RunnerError):
    code = "provider_error"


class SecretsError(RunnerError):
    code = "secrets_error"


class StoreError(RunnerError):
    code = "store_unavailable"


class SessionError(StoreError):
    code = "session_error"


def with_context(context: str, exc: RunnerError) -> RunnerError:
    """Return an error of the same class whose message is ``context: original``.

    Mirrors anyhow's ``{err:#}`` rendering so callers see the whole chain in one line.
    """
    message = f"{context}: {exc}"
    try:
        wrapped = type(exc)(message)
    except TypeError:
        # A subclass whose constructor needs more than the message (keyword fields such as
        # a component error's ``kind``): copy its attributes onto a fresh instance instead.
        wrapped = type(exc).__new__(type(exc), message)
        wrapped.__dict__.update(exc.__dict__)
        wrapped.args = (message,)
    wrapped.__cause__ = exc
    return wrapped
