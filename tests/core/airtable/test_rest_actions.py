"""Every REST write leaves an ``actions`` row (channel "api", the caller as actor): single
records, comments, attachments, tables and fields — and the kinds Airtable cannot undo say
so and refuse a revert."""

from __future__ import annotations

from typing import Any

import httpx

from tests.core.accounts.helpers import assert_error
from tests.core.airtable.platform import World, http, platform_core, world

__all__ = ["http", "platform_core", "world"]


def _action(http: httpx.Client, world: World, response: httpx.Response) -> dict[str, Any]:
    """The action a write answered with (``X-Action-Id``), checked for channel and actor."""
    assert response.status_code in (200, 201), response.text
    found = http.get(f"/api/v1/actions/{response.headers['x-action-id']}", headers=world.headers)
    assert found.status_code == 200, found.text
    action: dict[str, Any] = found.json()
    assert action["channel"] == "api"
    assert action["user_id"] == str(world.account.user_id)
    assert action["base_id"] == world.base_id
    return action


def _first_record(http: httpx.Client, world: World, table: str) -> dict[str, Any]:
    page = http.get(
        world.path(f"/tables/{table}/records"), params={"pageSize": 1}, headers=world.headers
    )
    assert page.status_code == 200, page.text
    record: dict[str, Any] = page.json()["records"][0]
    return record


def test_patching_one_record_is_a_revertible_update_action(
    http: httpx.Client, world: World
) -> None:
    record = _first_record(http, world, "Team")
    url = world.path(f"/tables/Team/records/{record['id']}")
    patched = http.patch(url, json={"fields": {"Name": "Renamed"}}, headers=world.headers)
    assert patched.json()["fields"]["Name"] == "Renamed"
    action = _action(http, world, patched)
    assert (action["operation"], action["status"]) == ("update", "done")
    assert action["record_ids"] == [record["id"]]
    assert action["before"]["records"][record["id"]]["Name"] == record["fields"]["Name"]
    assert action["revertible"] is True
    reverted = http.post(f"/api/v1/actions/{action['id']}/revert", headers=world.headers)
    assert reverted.status_code == 200, reverted.text
    again = http.get(url, headers=world.headers).json()
    assert again["fields"]["Name"] == record["fields"]["Name"]


def test_writing_a_record_that_does_not_exist_is_404_naming_it(
    http: httpx.Client, world: World
) -> None:
    url = world.path("/tables/Team/records/recNOPE0000000000")
    for response in (
        http.patch(url, json={"fields": {"Name": "x"}}, headers=world.headers),
        http.delete(url, headers=world.headers),
    ):
        body = assert_error(response, 404, "record_not_found")
        assert "recNOPE0000000000" in body["detail"]


def test_replacing_one_record_is_an_update_action_with_replace(
    http: httpx.Client, world: World
) -> None:
    record = _first_record(http, world, "Feedback")
    url = world.path(f"/tables/Feedback/records/{record['id']}")
    replaced = http.put(url, json={"fields": {"Summary": "only this"}}, headers=world.headers)
    assert replaced.json()["fields"].get("Score") is None
    action = _action(http, world, replaced)
    assert action["operation"] == "update"
    assert action["request"]["replace"] is True
    assert action["record_ids"] == [record["id"]]


def test_deleting_one_record_is_a_delete_action(http: httpx.Client, world: World) -> None:
    record = _first_record(http, world, "Feedback")
    deleted = http.delete(
        world.path(f"/tables/Feedback/records/{record['id']}"), headers=world.headers
    )
    assert deleted.json() == {"id": record["id"], "deleted": True}
    action = _action(http, world, deleted)
    assert (action["operation"], action["record_ids"]) == ("delete", [record["id"]])
    assert action["before"]["records"][record["id"]] == record["fields"]


def test_a_comment_is_an_action_that_refuses_a_revert(http: httpx.Client, world: World) -> None:
    record = _first_record(http, world, "Tasks")
    commented = http.post(
        world.path(f"/tables/Tasks/records/{record['id']}/comments"),
        json={"text": "looks good"},
        headers=world.headers,
    )
    assert commented.status_code == 201, commented.text
    assert commented.json()["text"] == "looks good"
    action = _action(http, world, commented)
    assert action["operation"] == "create_comment"
    assert action["result"]["comment_id"] == commented.json()["id"]
    assert action["revertible"] is False
    assert "comments are not reverted" in action["not_revertible_reason"]
    refused = http.post(f"/api/v1/actions/{action['id']}/revert", headers=world.headers)
    assert "comments are not reverted" in assert_error(refused, 409, "revert_refused")["detail"]


def test_attachments_by_url_are_an_action_a_revert_takes_back(
    http: httpx.Client, world: World
) -> None:
    record = _first_record(http, world, "Tasks")
    had = record["fields"].get("Attachments")
    url = world.path(f"/tables/Tasks/records/{record['id']}")
    added = http.post(
        url + "/attachments",
        json={
            "field": "Attachments",
            "attachments": [{"url": "https://example.com/plan.pdf", "filename": "plan.pdf"}],
        },
        headers=world.headers,
    )
    assert added.status_code == 200, added.text
    assert "plan.pdf" in [a.get("filename") for a in added.json()["fields"]["Attachments"]]
    action = _action(http, world, added)
    assert (action["operation"], action["record_ids"]) == ("add_attachments", [record["id"]])
    assert action["revertible"] is True
    reverted = http.post(f"/api/v1/actions/{action['id']}/revert", headers=world.headers)
    assert reverted.status_code == 200, reverted.text
    now = http.get(url, headers=world.headers).json()["fields"].get("Attachments")
    assert [a.get("filename") for a in now or []] == [a.get("filename") for a in had or []]


def test_table_and_field_writes_are_actions(http: httpx.Client, world: World) -> None:
    created = http.post(
        world.path("/tables"),
        json={"name": "Risks", "fields": [{"name": "Risk", "type": "singleLineText"}]},
        headers=world.headers,
    )
    assert created.json()["name"] == "Risks"
    table = _action(http, world, created)
    assert (table["operation"], table["revertible"]) == ("create_table", False)
    assert table["table_id"] == created.json()["id"]

    renamed = http.patch(
        world.path("/tables/Risks"), json={"name": "Hazards"}, headers=world.headers
    )
    assert renamed.json()["name"] == "Hazards"
    assert renamed.json()["fields"][0]["name"] == "Risk"
    rename = _action(http, world, renamed)
    assert (rename["operation"], rename["revertible"]) == ("update_table", True)

    field = http.post(
        world.path("/tables/Hazards/fields"),
        json={"name": "Impact", "type": "number", "options": {"precision": 0}},
        headers=world.headers,
    )
    assert (field.json()["name"], field.json()["type"]) == ("Impact", "number")
    new_field = _action(http, world, field)
    assert (new_field["operation"], new_field["revertible"]) == ("create_field", False)

    changed = http.patch(
        world.path("/tables/Hazards/fields/Impact"),
        json={"description": "1 low - 5 high"},
        headers=world.headers,
    )
    assert changed.json()["description"] == "1 low - 5 high"
    update = _action(http, world, changed)
    assert update["operation"] == "update_field"
    assert update["before"]["field"]["name"] == "Impact"
