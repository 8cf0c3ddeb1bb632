"""What the engine knows about the turn it runs: the caller's identity and the target."""

from __future__ import annotations

from dataclasses import replace

from ..records import record
from ..tenancy import TenantCtx


@record
class FlowContext:
    tenant: str
    pack_id: str
    flow_id: str
    env: str = "local"
    flow_type: str | None = None
    action: str | None = None
    session_id: str | None = None
    provider_id: str | None = None
    user_id: str | None = None
    messaging_endpoint_id: str | None = None
    attempt: int = 1

    def for_flow(self, flow_id: str, action: str | None = None) -> FlowContext:
        return replace(self, flow_id=flow_id, action=action or self.action)

    def tenant_ctx(self) -> TenantCtx:
        return TenantCtx(
            env=self.env,
            tenant=self.tenant,
            session=self.session_id,
            flow=self.flow_id,
            provider=self.provider_id,
        )
