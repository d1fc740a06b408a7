"""The platform's MCP server: Airtable tools over streamable HTTP at ``/mcp`` (and stdio
through ``pyairtable-platform mcp-stdio``), authenticated, tenant-scoped, with safe writes."""
