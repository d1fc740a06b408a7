"""Errors of the monitoring domain."""

from __future__ import annotations

from pyairtable_platform.kit.errors import PlatformError


class QueryStatsUnavailable(PlatformError):
    status_code = 503
    error = "query_stats_unavailable"
