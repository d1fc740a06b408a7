"""The role x endpoint permission matrix: owner, admin, member and viewer against every
workspace, member, invitation and API key endpoint, with the status each must get."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.core.accounts.helpers import Account, bearer, register, switch, unique_email

ROLES = ("owner", "admin", "member", "viewer")


@dataclass
class World:
    owner: Account
    actor_headers: dict[str, str]
    actor_id: uuid.UUID
    workspace: uuid.UUID
    target: uuid.UUID  # a plain member the actor may try to manage
    invitation: str  # a pending invitation id
    spare_email: str  # an existing user who is not a member yet


def _add(client: httpx.Client, owner: Account, workspace: uuid.UUID, email: str, role: str) -> None:
    response = client.post(
        f"/api/v1/workspaces/{workspace}/members",
        json={"email": email, "role": role},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text


def _world(client: httpx.Client, role: str) -> World:
    owner = register(client)
    workspace = owner.workspace_id
    target = register(client)
    _add(client, owner, workspace, target.email, "member")
    spare = register(client)
    invitation = client.post(
        f"/api/v1/workspaces/{workspace}/invitations",
        json={"email": unique_email("invitee"), "role": "viewer"},
        headers=owner.headers,
    ).json()["id"]
    if role == "owner":
        actor, headers = owner, owner.headers
    else:
        actor = register(client)
        _add(client, owner, workspace, actor.email, role)
        headers = bearer(switch(client, actor, workspace))
    return World(owner, headers, actor.user_id, workspace, target.user_id, invitation, spare.email)


Step = Callable[[httpx.Client, World], httpx.Response]
W = "/api/v1/workspaces/{w}"

# (name, request, expected status per role owner/admin/member/viewer). Order matters:
# destructive steps come last.
MATRIX: list[tuple[str, Step, tuple[int, int, int, int]]] = [
    (
        "get workspace",
        lambda c, w: c.get(W.format(w=w.workspace), headers=w.actor_headers),
        (200, 200, 200, 200),
    ),
    (
        "list members",
        lambda c, w: c.get(W.format(w=w.workspace) + "/members", headers=w.actor_headers),
        (200, 200, 200, 200),
    ),
    (
        "add member",
        lambda c, w: c.post(
            W.format(w=w.workspace) + "/members",
            json={"email": w.spare_email, "role": "viewer"},
            headers=w.actor_headers,
        ),
        (201, 201, 403, 403),
    ),
    (
        "change role",
        lambda c, w: c.patch(
            W.format(w=w.workspace) + f"/members/{w.target}",
            json={"role": "viewer"},
            headers=w.actor_headers,
        ),
        (200, 200, 403, 403),
    ),
    (
        "list invitations",
        lambda c, w: c.get(W.format(w=w.workspace) + "/invitations", headers=w.actor_headers),
        (200, 200, 403, 403),
    ),
    (
        "invite",
        lambda c, w: c.post(
            W.format(w=w.workspace) + "/invitations",
            json={"email": unique_email("inv"), "role": "member"},
            headers=w.actor_headers,
        ),
        (201, 201, 403, 403),
    ),
    (
        "revoke invitation",
        lambda c, w: c.delete(
            W.format(w=w.workspace) + f"/invitations/{w.invitation}", headers=w.actor_headers
        ),
        (204, 204, 403, 403),
    ),
    (
        "rename workspace",
        lambda c, w: c.patch(
            W.format(w=w.workspace), json={"name": "Renamed"}, headers=w.actor_headers
        ),
        (200, 200, 403, 403),
    ),
    (
        "switch",
        lambda c, w: c.post(W.format(w=w.workspace) + "/switch", headers=w.actor_headers),
        (200, 200, 200, 200),
    ),
    (
        "list api keys",
        lambda c, w: c.get("/api/v1/api-keys", headers=w.actor_headers),
        (200, 200, 200, 200),
    ),
    (
        "create read key",
        lambda c, w: c.post(
            "/api/v1/api-keys", json={"name": "r", "scope": "read"}, headers=w.actor_headers
        ),
        (201, 201, 201, 201),
    ),
    (
        "create write key",
        lambda c, w: c.post(
            "/api/v1/api-keys", json={"name": "w", "scope": "write"}, headers=w.actor_headers
        ),
        (201, 201, 201, 403),
    ),
    (
        "list everyone's keys",
        lambda c, w: c.get("/api/v1/api-keys?all=true", headers=w.actor_headers),
        (200, 200, 403, 403),
    ),
    (
        "remove member",
        lambda c, w: c.delete(
            W.format(w=w.workspace) + f"/members/{w.target}", headers=w.actor_headers
        ),
        (204, 204, 403, 403),
    ),
    (
        "delete workspace",
        lambda c, w: c.delete(W.format(w=w.workspace), headers=w.actor_headers),
        (204, 403, 403, 403),
    ),
]


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(client: httpx.Client, role: str) -> None:
    world = _world(client, role)
    column = ROLES.index(role)
    seen = {}
    for name, step, _expected in MATRIX:
        response = step(client, world)
        seen[name] = response.status_code
        if response.status_code >= 400:
            body = response.json()
            assert {"error", "detail", "request_id"} <= set(body), (name, body)
    wanted = {name: expected[column] for name, _, expected in MATRIX}
    assert seen == wanted


def test_a_viewer_can_revoke_their_own_read_key(client: httpx.Client) -> None:
    world = _world(client, "viewer")
    key = client.post(
        "/api/v1/api-keys", json={"name": "mine", "scope": "read"}, headers=world.actor_headers
    ).json()
    assert (
        client.delete(f"/api/v1/api-keys/{key['id']}", headers=world.actor_headers).status_code
        == 204
    )


def test_members_may_leave_but_not_remove_others(client: httpx.Client) -> None:
    world = _world(client, "member")
    others = client.delete(
        W.format(w=world.workspace) + f"/members/{world.target}", headers=world.actor_headers
    )
    assert others.status_code == 403
    leave = client.delete(
        W.format(w=world.workspace) + f"/members/{world.actor_id}", headers=world.actor_headers
    )
    assert leave.status_code == 204
