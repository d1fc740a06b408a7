"""The one table that says where each public path goes and what it needs.

Everything the gateway decides about a path — which upstream, whether a caller must be
signed in, which rate limit and body limit apply — is looked up here, so the rules can be
read in one place and changed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Upstream = Literal["core", "ai"]
RateClass = Literal["auth", "anonymous", "authenticated", "sandbox"]


@dataclass(frozen=True)
class Target:
    upstream: Upstream
    # Label for metrics and logs; low cardinality on purpose.
    label: str


# (path prefix, target). A prefix matches the path itself and anything below it on a
# segment boundary: "/api/v1/chat" matches "/api/v1/chat" and "/api/v1/chat/x", not
# "/api/v1/chatter". First match wins, so more specific prefixes come first.
PROXY_TABLE: tuple[tuple[str, Target], ...] = (
    ("/api/v1/chat", Target("ai", "/api/v1/chat")),
    ("/api/v1/ai", Target("ai", "/api/v1/ai")),
    ("/api/v1/budgets", Target("ai", "/api/v1/budgets")),
    ("/api/v1/usage", Target("ai", "/api/v1/usage")),
    ("/api/v1/analysis", Target("ai", "/api/v1/analysis")),
    ("/api/v1", Target("core", "/api/v1")),
    ("/mcp", Target("core", "/mcp")),
    ("/sandbox", Target("core", "/sandbox")),
    ("/.well-known", Target("core", "/.well-known")),
)

# Paths the SPA fallback must never answer with HTML, even when nothing proxies them.
RESERVED_PREFIXES = ("/api", "/mcp", "/sandbox", "/.well-known")

# Proxied paths open to anonymous callers. Everything else proxied needs a token or key.
_ANONYMOUS_AUTH_PATHS = frozenset(
    {
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/verify-email",
    }
)
_ANONYMOUS_AUTH_PREFIXES = ("/api/v1/auth/password-reset/",)
# The sandbox checks its own Airtable-style tokens; /.well-known holds the public JWKS.
_ANONYMOUS_PREFIXES = ("/sandbox", "/.well-known")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or (path.startswith(prefix) and path[len(prefix)] == "/")


def match_target(path: str) -> Target | None:
    for prefix, target in PROXY_TABLE:
        if _under(path, prefix):
            return target
    return None


def is_reserved(path: str) -> bool:
    return any(_under(path, prefix) for prefix in RESERVED_PREFIXES)


@dataclass(frozen=True)
class Access:
    """Whether a proxied path needs a credential, and which rate-limit bucket it uses."""

    anonymous: bool
    rate_class: RateClass


_AUTH = Access(anonymous=True, rate_class="auth")
_SANDBOX = Access(anonymous=True, rate_class="sandbox")
_ANONYMOUS = Access(anonymous=True, rate_class="anonymous")
_PROTECTED = Access(anonymous=False, rate_class="authenticated")


def access_for(path: str) -> Access:
    if path in _ANONYMOUS_AUTH_PATHS or path.startswith(_ANONYMOUS_AUTH_PREFIXES):
        return _AUTH
    if _under(path, "/sandbox"):
        return _SANDBOX
    if any(_under(path, prefix) for prefix in _ANONYMOUS_PREFIXES):
        return _ANONYMOUS
    return _PROTECTED


def body_limit_for(path: str, upload_paths: list[str], json_limit: int, upload_limit: int) -> int:
    if any(_under(path, prefix) for prefix in upload_paths):
        return upload_limit
    return json_limit


def has_dot_segments(path: str) -> bool:
    """``/sandbox/../api/v1/x`` would be classed by its first segment but resolved by a
    normalising hop behind us; such paths are refused rather than guessed at."""
    return "/./" in path or "/../" in path or path.endswith(("/.", "/.."))
