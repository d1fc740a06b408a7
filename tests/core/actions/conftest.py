"""The actions REST API is tested against the same running core and tenant set-up as the
MCP tests (their fixtures, re-exported)."""

from tests.core.mcp.conftest import other_tenant, sandbox, servers, tenant

__all__ = ["other_tenant", "sandbox", "servers", "tenant"]
