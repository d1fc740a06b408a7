"""Airtable failures as platform errors, worded so that a person or a model can act on them."""

from __future__ import annotations

from typing import Any, ClassVar

from pyairtable_platform.kit.errors import Conflict, NotFound, PlatformError, ValidationFailed


class AirtableError(PlatformError):
    """Base of every Airtable failure the client raises."""

    status_code: ClassVar[int] = 502
    error: ClassVar[str] = "airtable_error"


class AirtableBusy(AirtableError):
    """The rate limiter could not give this call a slot within the configured wait."""

    status_code = 503
    error = "airtable_busy"

    def __init__(
        self, detail: str, *, retry_after: float, extra: dict[str, Any] | None = None
    ) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(detail, extra=extra, headers={"Retry-After": str(seconds)})
        self.retry_after = seconds


class AirtableUnavailable(AirtableError):
    """Airtable answered 5xx, timed out or could not be reached, retries included."""

    status_code = 503
    error = "airtable_unavailable"


class AirtableTokenInvalid(AirtableError):
    """The connection's token was rejected (revoked, expired, or missing a scope)."""

    status_code = 424
    error = "airtable_token_invalid"


class AirtableNotFound(AirtableError):
    status_code = 404
    error = "airtable_not_found"


class AirtableInvalidRequest(AirtableError):
    status_code = 422
    error = "airtable_invalid_request"


class AirtableUnknownField(AirtableInvalidRequest):
    error = "airtable_unknown_field"


class AirtableInvalidFormula(AirtableInvalidRequest):
    error = "airtable_invalid_formula"


class AirtableWriteUncertain(AirtableError):
    """A non-idempotent write (a create) may or may not have happened.

    It is deliberately not resent: resending a create that did reach Airtable duplicates
    records. ``attempted`` carries what was sent so the caller (or the mirror's
    reconciliation) can check what exists before trying again.
    """

    status_code = 504
    error = "airtable_write_uncertain"

    def __init__(
        self,
        detail: str,
        *,
        operation: str,
        base_id: str | None,
        table: str | None,
        attempted: list[dict[str, Any]],
    ) -> None:
        super().__init__(
            detail,
            extra={
                "operation": operation,
                "base_id": base_id,
                "table": table,
                "attempted_count": len(attempted),
            },
        )
        self.operation = operation
        self.base_id = base_id
        self.table = table
        self.attempted = attempted


# Errors the service adds to the client's: names the caller gave that do not exist, and the
# mirror's state.


class TableNotFound(NotFound):
    error = "table_not_found"


class BaseNotFound(NotFound):
    error = "base_not_found"


class UnknownField(ValidationFailed):
    error = "unknown_field"


class MirrorNotReady(Conflict):
    error = "mirror_not_ready"


class SyncInProgress(Conflict):
    error = "sync_in_progress"


# Errors a single-flight leader shares with the waiters of the same read (see cache.py).
SHAREABLE_ERRORS: dict[str, type[AirtableError]] = {
    cls.__name__: cls
    for cls in (
        AirtableUnavailable,
        AirtableTokenInvalid,
        AirtableNotFound,
        AirtableInvalidRequest,
        AirtableUnknownField,
        AirtableInvalidFormula,
    )
}
