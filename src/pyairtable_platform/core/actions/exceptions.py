"""Failures of the actions domain, worded so a person or a model can act on them."""

from __future__ import annotations

from pyairtable_platform.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed


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


class ReadOnlyCredential(Forbidden):
    error = "read_only_credential"
