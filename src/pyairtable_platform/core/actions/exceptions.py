"""Failures of the actions domain, worded so a person or a model can act on them."""

from __future__ import annotations

from typing import Any

from pyairtable_platform.kit.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PlatformError,
    ValidationFailed,
)


class ActionNotFound(NotFound):
    error = "action_not_found"


class ActionNotApplicable(Conflict):
    """The action is not (or no longer) waiting for approval."""

    error = "action_not_applicable"


class InvalidApprovalToken(Forbidden):
    error = "invalid_approval_token"


class RevertRefused(Conflict):
    """A revert that would overwrite later changes, or that Airtable cannot do."""

    error = "revert_refused"


class InvalidWrite(ValidationFailed):
    error = "invalid_write"


class RecordNotFound(NotFound):
    """A write names records the table does not have."""

    error = "record_not_found"


class ReadOnlyCredential(Forbidden):
    error = "read_only_credential"


class WriteUncertain(PlatformError):
    """A create Airtable may or may not have carried out, recorded as an ``uncertain`` action
    (not resent) to be reconciled against the mirror."""

    status_code = 504
    error = "airtable_write_uncertain"

    def __init__(self, action_id: str, table: str | None, count: int, **extra: Any) -> None:
        super().__init__(
            f"Airtable did not answer whether {count} record(s) were created in "
            f"{table or 'the table'}; they were not resent, so nothing is duplicated. Action "
            f"{action_id} records the attempt as uncertain and will be reconciled against the "
            f"mirror shortly: GET /api/v1/actions/{action_id} shows which records exist "
            f"(POST /api/v1/actions/{action_id}/reconcile checks now). Do not retry before "
            "that, or the records may exist twice",
            extra={"action_id": action_id, "uncertain_count": count, **extra},
        )
