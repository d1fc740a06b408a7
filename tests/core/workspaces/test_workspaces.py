"""Workspaces, members, invitations and switching over HTTP."""

from __future__ import annotations

import uuid

import httpx

from pyairtable_platform.core.config import CoreSettings
from tests.core.accounts.helpers import (
    PASSWORD,
    assert_error,
    bearer,
    outbox,
    register,
    switch,
    token_from_link,
    unique_email,
    whoami,
)
from tests.support.servers import ThreadServer


def test_create_list_get_rename_delete(client: httpx.Client) -> None:
    account = register(client)
    created = client.post("/api/v1/workspaces", json={"name": "Sales ops"}, headers=account.headers)
    assert created.status_code == 201, created.text
    ws = created.json()
    assert ws["role"] == "owner"
    assert ws["name"] == "Sales ops"
    assert ws["slug"].startswith("sales-ops-")
    listed = client.get("/api/v1/workspaces", headers=account.headers).json()
    assert {w["id"] for w in listed} == {str(account.workspace_id), ws["id"]}
    got = client.get(f"/api/v1/workspaces/{ws['id']}", headers=account.headers)
    assert got.json()["name"] == "Sales ops"
    renamed = client.patch(
        f"/api/v1/workspaces/{ws['id']}", json={"name": "Revenue"}, headers=account.headers
    )
    assert renamed.json()["name"] == "Revenue"
    assert (
        client.delete(f"/api/v1/workspaces/{ws['id']}", headers=account.headers).status_code == 204
    )
    assert_error(client.get(f"/api/v1/workspaces/{ws['id']}", headers=account.headers), 404)
    assert [w["id"] for w in client.get("/api/v1/workspaces", headers=account.headers).json()] == [
        str(account.workspace_id)
    ]


def test_another_workspace_is_404_on_every_endpoint(client: httpx.Client) -> None:
    alice, bob = register(client), register(client)
    base = f"/api/v1/workspaces/{alice.workspace_id}"
    requests = [
        ("GET", base, None),
        ("PATCH", base, {"name": "mine now"}),
        ("DELETE", base, None),
        ("POST", base + "/switch", None),
        ("GET", base + "/members", None),
        ("POST", base + "/members", {"email": bob.email, "role": "owner"}),
        ("PATCH", base + f"/members/{alice.user_id}", {"role": "viewer"}),
        ("DELETE", base + f"/members/{alice.user_id}", None),
        ("GET", base + "/invitations", None),
        ("POST", base + "/invitations", {"email": bob.email, "role": "admin"}),
        ("DELETE", base + f"/invitations/{uuid.uuid4()}", None),
        ("GET", f"/api/v1/workspaces/{uuid.uuid4()}", None),
    ]
    for method, url, body in requests:
        response = client.request(method, url, json=body, headers=bob.headers)
        assert_error(response, 404, "not_found")
    # Nothing changed for alice.
    assert client.get(base, headers=alice.headers).json()["name"] != "mine now"
    assert len(client.get(base + "/members", headers=alice.headers).json()) == 1


def test_invitation_round_trip(
    core: tuple[ThreadServer, CoreSettings], client: httpx.Client
) -> None:
    owner = register(client)
    email = unique_email("invited")
    created = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/invitations",
        json={"email": email, "role": "admin"},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    pending = client.get(
        f"/api/v1/workspaces/{owner.workspace_id}/invitations", headers=owner.headers
    ).json()
    assert [p["email"] for p in pending] == [email]
    mail = outbox(core[1].redis_url, email, "invitation")
    assert len(mail) == 1
    token = token_from_link(mail[0]["link"])
    assert token == created.json()["token"]

    stranger = register(client)
    wrong_person = client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=stranger.headers
    )
    assert_error(wrong_person, 403)

    invitee = register(client, email)
    accepted = client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=invitee.headers
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"workspace_id": str(owner.workspace_id), "role": "admin"}
    members = client.get(
        f"/api/v1/workspaces/{owner.workspace_id}/members", headers=owner.headers
    ).json()
    assert {m["email"]: m["role"] for m in members}[email] == "admin"
    again = client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=invitee.headers
    )
    assert_error(again, 400)
    assert (
        client.get(
            f"/api/v1/workspaces/{owner.workspace_id}/invitations", headers=owner.headers
        ).json()
        == []
    )


def test_revoked_invitation_cannot_be_accepted(client: httpx.Client) -> None:
    owner = register(client)
    email = unique_email("revoked")
    created = client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/invitations",
        json={"email": email, "role": "member"},
        headers=owner.headers,
    ).json()
    assert (
        client.delete(
            f"/api/v1/workspaces/{owner.workspace_id}/invitations/{created['id']}",
            headers=owner.headers,
        ).status_code
        == 204
    )
    invitee = register(client, email)
    response = client.post(
        "/api/v1/invitations/accept", json={"token": created["token"]}, headers=invitee.headers
    )
    assert_error(response, 400)
    assert_error(
        client.post("/api/v1/invitations/accept", json={"token": "nope"}, headers=invitee.headers),
        400,
    )


def test_switching_issues_a_token_for_that_workspace_and_the_session_follows(
    client: httpx.Client,
) -> None:
    account = register(client)
    second = client.post(
        "/api/v1/workspaces", json={"name": "Second"}, headers=account.headers
    ).json()
    response = client.post(f"/api/v1/workspaces/{second['id']}/switch", headers=account.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["workspace_id"] == second["id"]
    assert body["role"] == "owner"
    assert whoami(client, body["access_token"])["workspace_id"] == second["id"]
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh}).json()
    assert whoami(client, refreshed["access_token"])["workspace_id"] == second["id"]
    # A new sign-in starts where the user last switched to.
    login = client.post("/api/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    assert whoami(client, login.json()["access_token"])["workspace_id"] == second["id"]


def test_role_change_applies_to_the_next_request(client: httpx.Client) -> None:
    owner = register(client)
    member = register(client)
    client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/members",
        json={"email": member.email, "role": "admin"},
        headers=owner.headers,
    )
    token = switch(client, member, owner.workspace_id)
    key = client.post(
        "/api/v1/api-keys", json={"name": "k", "scope": "write"}, headers=bearer(token)
    ).json()["key"]
    assert whoami(client, key)["role"] == "admin"
    demote = client.patch(
        f"/api/v1/workspaces/{owner.workspace_id}/members/{member.user_id}",
        json={"role": "viewer"},
        headers=owner.headers,
    )
    assert demote.json()["role"] == "viewer"
    # The admin-era access token is refused; the key now carries the new role.
    assert (
        "refresh"
        in assert_error(client.get("/api/v1/auth/whoami", headers=bearer(token)), 401)["detail"]
    )
    assert whoami(client, key)["role"] == "viewer"
    rename = client.patch(
        f"/api/v1/workspaces/{owner.workspace_id}", json={"name": "x"}, headers=bearer(key)
    )
    assert_error(rename, 403)


def test_removed_member_loses_access_and_keys(client: httpx.Client) -> None:
    owner = register(client)
    member = register(client)
    client.post(
        f"/api/v1/workspaces/{owner.workspace_id}/members",
        json={"email": member.email, "role": "member"},
        headers=owner.headers,
    )
    token = switch(client, member, owner.workspace_id)
    key = client.post(
        "/api/v1/api-keys", json={"name": "k", "scope": "read"}, headers=bearer(token)
    ).json()["key"]
    assert whoami(client, key)["workspace_id"] == str(owner.workspace_id)
    removed = client.delete(
        f"/api/v1/workspaces/{owner.workspace_id}/members/{member.user_id}", headers=owner.headers
    )
    assert removed.status_code == 204
    assert_error(client.get("/api/v1/auth/whoami", headers=bearer(key)), 401)
    assert_error(client.get("/api/v1/auth/whoami", headers=bearer(token)), 401)
    assert_error(
        client.get(f"/api/v1/workspaces/{owner.workspace_id}", headers=member.headers), 404
    )


def test_a_workspace_always_keeps_an_owner(client: httpx.Client) -> None:
    owner = register(client)
    base = f"/api/v1/workspaces/{owner.workspace_id}/members/{owner.user_id}"
    assert_error(client.patch(base, json={"role": "admin"}, headers=owner.headers), 409)
    assert_error(client.delete(base, headers=owner.headers), 409)


def test_admins_cannot_make_or_unmake_owners(client: httpx.Client) -> None:
    owner, admin, other = register(client), register(client), register(client)
    members = f"/api/v1/workspaces/{owner.workspace_id}/members"
    client.post(members, json={"email": admin.email, "role": "admin"}, headers=owner.headers)
    client.post(members, json={"email": other.email, "role": "viewer"}, headers=owner.headers)
    admin_headers = bearer(switch(client, admin, owner.workspace_id))
    assert_error(
        client.patch(f"{members}/{other.user_id}", json={"role": "owner"}, headers=admin_headers),
        403,
    )
    assert_error(
        client.patch(f"{members}/{owner.user_id}", json={"role": "viewer"}, headers=admin_headers),
        403,
    )
    assert_error(client.delete(f"{members}/{owner.user_id}", headers=admin_headers), 403)
    assert_error(
        client.post(members, json={"email": other.email, "role": "member"}, headers=admin_headers),
        409,
    )
    assert_error(
        client.post(
            members, json={"email": unique_email("nobody"), "role": "member"}, headers=admin_headers
        ),
        404,
    )


def test_deleting_a_workspace_ends_members_access_to_it(client: httpx.Client) -> None:
    owner, member = register(client), register(client)
    second = client.post("/api/v1/workspaces", json={"name": "Temp"}, headers=owner.headers).json()
    client.post(
        f"/api/v1/workspaces/{second['id']}/members",
        json={"email": member.email, "role": "member"},
        headers=owner.headers,
    )
    token = switch(client, member, uuid.UUID(second["id"]))
    assert (
        client.delete(f"/api/v1/workspaces/{second['id']}", headers=owner.headers).status_code
        == 204
    )
    assert_error(client.get("/api/v1/auth/whoami", headers=bearer(token)), 401)
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": member.refresh}).json()
    assert whoami(client, refreshed["access_token"])["workspace_id"] == str(member.workspace_id)
