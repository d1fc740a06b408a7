"""Who may do what: the one table of role x action, and the credential scope each needs.

Scopes order ``read < write < full``. Access tokens (interactive sessions) carry ``full``;
API keys carry ``read`` or ``write``. Actions that manage credentials or destroy a
workspace need ``full``: a leaked script key cannot mint more keys or delete the workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyairtable_platform.kit.auth import Identity, Scope
from pyairtable_platform.kit.errors import Forbidden

SCOPE_RANK: dict[str, int] = {"read": 0, "write": 1, "full": 2}

ALL = frozenset({"owner", "admin", "member", "viewer"})
EDITORS = frozenset({"owner", "admin", "member"})
MANAGERS = frozenset({"owner", "admin"})
OWNERS = frozenset({"owner"})


class Action(StrEnum):
    WORKSPACE_READ = "workspace.read"
    WORKSPACE_UPDATE = "workspace.update"
    WORKSPACE_DELETE = "workspace.delete"
    WORKSPACE_SWITCH = "workspace.switch"
    MEMBERS_READ = "members.read"
    MEMBERS_MANAGE = "members.manage"
    INVITATIONS_READ = "invitations.read"
    INVITATIONS_MANAGE = "invitations.manage"
    API_KEYS_READ = "api_keys.read"
    API_KEYS_READ_ALL = "api_keys.read_all"
    API_KEYS_CREATE_READ = "api_keys.create_read"
    API_KEYS_CREATE_WRITE = "api_keys.create_write"
    API_KEYS_REVOKE_OWN = "api_keys.revoke_own"
    API_KEYS_REVOKE_ANY = "api_keys.revoke_any"
    DATA_READ = "data.read"
    DATA_WRITE = "data.write"
    DATA_ADMIN = "data.admin"
    AIRTABLE_CONNECTIONS_READ = "airtable.connections.read"
    AIRTABLE_CONNECTIONS_MANAGE = "airtable.connections.manage"
    AIRTABLE_READ = "airtable.read"
    AIRTABLE_WRITE = "airtable.write"
    AIRTABLE_SCHEMA_WRITE = "airtable.schema.write"
    AIRTABLE_SYNC = "airtable.sync"


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    scope: Scope


PERMISSIONS: dict[Action, Rule] = {
    Action.WORKSPACE_READ: Rule(ALL, "read"),
    Action.WORKSPACE_UPDATE: Rule(MANAGERS, "write"),
    Action.WORKSPACE_DELETE: Rule(OWNERS, "full"),
    Action.WORKSPACE_SWITCH: Rule(ALL, "full"),
    Action.MEMBERS_READ: Rule(ALL, "read"),
    Action.MEMBERS_MANAGE: Rule(MANAGERS, "write"),
    Action.INVITATIONS_READ: Rule(MANAGERS, "read"),
    Action.INVITATIONS_MANAGE: Rule(MANAGERS, "write"),
    Action.API_KEYS_READ: Rule(ALL, "read"),
    Action.API_KEYS_READ_ALL: Rule(MANAGERS, "read"),
    Action.API_KEYS_CREATE_READ: Rule(ALL, "full"),
    Action.API_KEYS_CREATE_WRITE: Rule(EDITORS, "full"),
    Action.API_KEYS_REVOKE_OWN: Rule(ALL, "full"),
    Action.API_KEYS_REVOKE_ANY: Rule(MANAGERS, "full"),
    Action.DATA_READ: Rule(ALL, "read"),
    Action.DATA_WRITE: Rule(EDITORS, "write"),
    Action.DATA_ADMIN: Rule(MANAGERS, "write"),
    Action.AIRTABLE_CONNECTIONS_READ: Rule(ALL, "read"),
    # A connection holds an Airtable credential: managing it needs a signed-in session.
    Action.AIRTABLE_CONNECTIONS_MANAGE: Rule(MANAGERS, "full"),
    Action.AIRTABLE_READ: Rule(ALL, "read"),
    Action.AIRTABLE_WRITE: Rule(EDITORS, "write"),
    Action.AIRTABLE_SCHEMA_WRITE: Rule(MANAGERS, "write"),
    Action.AIRTABLE_SYNC: Rule(EDITORS, "write"),
}

# Every action has a rule: a new action without one would silently allow nothing (or all).
assert set(PERMISSIONS) == set(Action)


def allowed(role: str | None, scope: str, action: Action) -> bool:
    rule = PERMISSIONS[action]
    return role in rule.roles and SCOPE_RANK[scope] >= SCOPE_RANK[rule.scope]


def check(role: str | None, scope: str, action: Action) -> None:
    """:class:`Forbidden` unless ``role`` with a credential of ``scope`` may do ``action``."""
    rule = PERMISSIONS[action]
    if role not in rule.roles:
        raise Forbidden(
            f"your role ({role or 'none'}) may not do {action.value}; "
            f"allowed: {', '.join(sorted(rule.roles))}"
        )
    if SCOPE_RANK[scope] < SCOPE_RANK[rule.scope]:
        raise Forbidden(
            f"this credential's scope ({scope}) is not enough for {action.value}; "
            f"it needs {rule.scope}"
            + (" (use a signed-in session, not an API key)" if rule.scope == "full" else "")
        )


def check_identity(identity: Identity, action: Action) -> None:
    check(identity.role, identity.scope, action)
