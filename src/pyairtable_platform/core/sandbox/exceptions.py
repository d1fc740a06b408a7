"""Errors in Airtable's own shapes.

Airtable answers most failures with ``{"error": {"type": ..., "message": ...}}``, some with
the bare string form ``{"error": "NOT_FOUND"}``, and rate limits with
``{"errors": [{"error": "RATE_LIMIT_REACHED", "message": ...}]}``. The sandbox keeps these
shapes (not the platform's ``{"error", "detail", "request_id"}``) because clients written
for Airtable parse them.
"""

from __future__ import annotations

from typing import Any


class AirtableError(Exception):
    """An expected failure rendered as Airtable renders it."""

    def __init__(
        self,
        status_code: int,
        error_type: str,
        message: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or error_type)
        self.status_code = status_code
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        if self.message is None:
            return {"error": self.error_type}
        return {"error": {"type": self.error_type, "message": self.message}}


class RateLimitReached(AirtableError):
    def __init__(self) -> None:
        super().__init__(429, "RATE_LIMIT_REACHED", "Rate limit exceeded. Please try again later")

    def body(self) -> dict[str, Any]:
        return {"errors": [{"error": self.error_type, "message": self.message}]}


def authentication_required() -> AirtableError:
    return AirtableError(401, "AUTHENTICATION_REQUIRED", "Authentication required")


def not_found() -> AirtableError:
    return AirtableError(404, "NOT_FOUND")


def model_not_found() -> AirtableError:
    return AirtableError(
        403,
        "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
        "Invalid permissions, or the requested model was not found. Check that both your "
        "user and your token have the required permissions, and that the model names "
        "and/or ids are correct.",
    )


def table_not_found(table: str, base_id: str) -> AirtableError:
    return AirtableError(
        404, "TABLE_NOT_FOUND", f"Could not find table {table} in application {base_id}"
    )


def invalid_request(
    message: str = "Invalid request: parameter validation failed.",
) -> AirtableError:
    return AirtableError(422, "INVALID_REQUEST_UNKNOWN", message)


def unknown_field(name: str) -> AirtableError:
    return AirtableError(422, "UNKNOWN_FIELD_NAME", f'Unknown field name: "{name}"')


def invalid_value(field_name: str, reason: str = "") -> AirtableError:
    message = f'Field "{field_name}" cannot accept the provided value'
    if reason:
        message += f": {reason}"
    return AirtableError(422, "INVALID_VALUE_FOR_COLUMN", message)


def invalid_records(message: str) -> AirtableError:
    return AirtableError(422, "INVALID_RECORDS", message)


def invalid_formula(reason: str) -> AirtableError:
    return AirtableError(
        422,
        "INVALID_FILTER_BY_FORMULA",
        f"The formula for filtering records is invalid: {reason}",
    )
