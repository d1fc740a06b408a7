"""Settings of the MCP endpoint (env prefix ``CORE_MCP_``)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pyairtable_platform.kit.settings import CommaList

# Loopback on any port: core itself, the gateway on the same host, local clients.
LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


class McpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CORE_MCP_", extra="ignore")

    # Host headers accepted besides loopback and the PUBLIC_URL host (DNS-rebinding guard).
    allowed_hosts: CommaList = Field(default_factory=list)
    # Browser origins accepted besides loopback and PUBLIC_URL.
    allowed_origins: CommaList = Field(default_factory=list)
    # Answer each POST with one JSON body (true) or an SSE stream (false).
    json_response: bool = True
    max_request_mb: int = Field(default=8, ge=1, le=100)
    # Result caps: records per read, characters of a CSV preview.
    max_records: int = Field(default=100, ge=1, le=1000)
    max_scan_records: int = Field(default=5000, ge=100, le=100_000)
    # Where export_table_csv writes its files (a ``files`` row points at each).
    export_dir: str = Field(
        default_factory=lambda: str(Path(os.environ.get("PAP_DATA_DIR", ".data")) / "exports")
    )

    def hosts(self, public_url: str) -> list[str]:
        public = urlsplit(public_url)
        extra = [public.netloc] if public.netloc else []
        if public.hostname and public.hostname not in ("127.0.0.1", "localhost"):
            extra.append(f"{public.hostname}:*")
        return list(dict.fromkeys([*LOOPBACK_HOSTS, *extra, *self.allowed_hosts]))

    def origins(self, public_url: str) -> list[str]:
        public = urlsplit(public_url)
        extra = [f"{public.scheme}://{public.netloc}"] if public.netloc else []
        return list(dict.fromkeys([*LOOPBACK_ORIGINS, *extra, *self.allowed_origins]))
