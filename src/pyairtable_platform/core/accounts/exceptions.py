"""Expected failures of the accounts domain."""

from __future__ import annotations

from pyairtable_platform.kit.errors import BadRequest, Conflict, Unauthorized, ValidationFailed


class EmailAlreadyRegistered(Conflict):
    error = "email_taken"


class WeakPassword(ValidationFailed):
    error = "weak_password"


class InvalidCredentials(Unauthorized):
    """One message for unknown email, wrong password and inactive account alike."""

    def __init__(self) -> None:
        super().__init__("invalid credentials", headers={"WWW-Authenticate": "Bearer"})


class InvalidRefreshToken(Unauthorized):
    error = "invalid_refresh_token"


class InvalidAccountToken(BadRequest):
    error = "invalid_token"
