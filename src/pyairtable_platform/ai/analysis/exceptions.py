"""Errors of table analysis."""

from __future__ import annotations

from pyairtable_platform.kit.errors import PlatformError


class AnalysisTargetNotFound(PlatformError):
    status_code = 404
    error = "not_found"


class AnalysisFailed(PlatformError):
    """The provider or the agent loop failed; the attempt is stored as a ``failed`` report."""

    status_code = 502
    error = "analysis_failed"
