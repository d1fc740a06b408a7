"""Airtable access: one rate-limited, cached client for the real API and the sandbox."""

from pyairtable_platform.core.airtable.client import (
    AirtableClient,
    AirtableConnection,
    ChunkFailure,
    UpstreamCall,
    UsageRecorder,
    WriteResult,
)
from pyairtable_platform.core.airtable.config import AirtableSettings
from pyairtable_platform.core.airtable.ratelimit import RateLimiter

__all__ = [
    "AirtableClient",
    "AirtableConnection",
    "AirtableSettings",
    "ChunkFailure",
    "RateLimiter",
    "UpstreamCall",
    "UsageRecorder",
    "WriteResult",
]
