"""Budget errors."""

from __future__ import annotations

from pyairtable_platform.kit.errors import PlatformError


class BudgetExceeded(PlatformError):
    status_code = 429
    error = "budget_exceeded"
