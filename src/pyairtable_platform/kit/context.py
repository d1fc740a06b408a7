"""Per-request context shared by logging, errors and outgoing calls."""

from __future__ import annotations

import random
import re
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def new_request_id() -> str:
    # 128 random bits as 32 hex digits, the shape uuid4().hex had. A request id is a
    # correlation handle, not a secret: the non-cryptographic generator avoids a getrandom
    # system call per request on the gateway's hot path.
    return f"{random.getrandbits(128):032x}"


def accept_request_id(incoming: str | None) -> str:
    """Reuse a caller's X-Request-ID when it is safe to log and echo, else make one."""
    if incoming and _VALID_REQUEST_ID.match(incoming):
        return incoming
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()
