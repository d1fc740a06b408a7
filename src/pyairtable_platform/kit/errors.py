"""One error hierarchy for every service, rendered as ``{"error", "detail", "request_id"}``."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pyairtable_platform.kit.context import current_request_id
from pyairtable_platform.kit.responses import JSONResponse

logger = logging.getLogger(__name__)


class PlatformError(Exception):
    """Base of every expected failure. Services raise subclasses; handlers render them."""

    status_code: ClassVar[int] = 500
    error: ClassVar[str] = "internal_error"

    def __init__(
        self,
        detail: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}


class BadRequest(PlatformError):
    status_code = 400
    error = "bad_request"


class Unauthorized(PlatformError):
    status_code = 401
    error = "unauthorized"


class Forbidden(PlatformError):
    status_code = 403
    error = "forbidden"


class NotFound(PlatformError):
    status_code = 404
    error = "not_found"


class Conflict(PlatformError):
    status_code = 409
    error = "conflict"


class PayloadTooLarge(PlatformError):
    status_code = 413
    error = "payload_too_large"


class ValidationFailed(PlatformError):
    status_code = 422
    error = "validation_error"


class RateLimited(PlatformError):
    status_code = 429
    error = "rate_limited"

    def __init__(self, detail: str, *, retry_after: float, extra: dict[str, Any] | None = None):
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(detail, extra=extra, headers={"Retry-After": str(seconds)})
        self.retry_after = seconds


class UpstreamError(PlatformError):
    status_code = 502
    error = "bad_gateway"


class ServiceUnavailable(PlatformError):
    status_code = 503
    error = "service_unavailable"


class UpstreamTimeout(PlatformError):
    status_code = 504
    error = "gateway_timeout"


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


# Database refusals that reach a handler are the caller's fault or a transient condition,
# never a 500: a row-level-security refusal is a 403, a duplicate a 409, and so on.
_DB_ERRORS: dict[str, tuple[int, str, str]] = {
    "42501": (403, "forbidden", "not allowed in this workspace"),
    "23505": (409, "conflict", "a record with the same unique value already exists"),
    "23503": (409, "conflict", "the change refers to, or is referred to by, another record"),
    "23514": (422, "validation_error", "a value breaks a rule of the record"),
    "22P02": (422, "validation_error", "a value has the wrong format"),
    "22001": (422, "validation_error", "a value is too long"),
    "57014": (503, "service_unavailable", "the query took too long; narrow it and retry"),
    "40001": (503, "service_unavailable", "a concurrent change conflicted; retry"),
    "40P01": (503, "service_unavailable", "a concurrent change conflicted; retry"),
}


def error_body(error: str, detail: Any, **extra: Any) -> dict[str, Any]:
    return {"error": error, "detail": detail, "request_id": current_request_id(), **extra}


def error_response(
    status_code: int,
    error: str,
    detail: Any,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        error_body(error, detail, **extra), status_code=status_code, headers=headers
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    cleaned = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        cleaned.append({"loc": loc, "msg": err.get("msg", ""), "type": err.get("type", "")})
    return cleaned


def install_error_handlers(app: FastAPI) -> None:
    async def platform_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, PlatformError)
        return error_response(exc.status_code, exc.error, exc.detail, exc.headers, **exc.extra)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            summary = "request body is not valid JSON"
        else:
            parts = [f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5]]
            summary = "; ".join(parts) or "invalid request"
        return error_response(422, "validation_error", summary, errors=errors)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, detail, dict(exc.headers or {}))

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DBAPIError)
        mapped = _DB_ERRORS.get(getattr(exc.orig, "sqlstate", None) or "")
        if mapped is None:
            return await unexpected_error(request, exc)
        status, code, detail = mapped
        return error_response(status, code, detail)

    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "an unexpected error occurred")

    app.add_exception_handler(PlatformError, platform_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(Exception, unexpected_error)
