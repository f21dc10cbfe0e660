"""The workflow endpoints of the admin API against a real server: upload, validate, drafts,
numbered publications, roll back, export, enable/disable, delete, patching a menu; and a
published workflow answering a call."""

from __future__ import annotations

import yaml

from ivr.softphone import CallerHungUp, ScriptedCaller, Softphone
from tests.api_client import ApiClient
from tests.conftest import AUTH_TOKEN, PUBLIC_URL

LINE = """\
id: sales-line
name: Sales line
trigger: {event: call.incoming, to: "+15005550002"}
start: main
steps:
  main:
    menu:
      say: "Press 1 for sales."
      options:
        "1": sales
  sales:
    say: "Sales it is."
"""
LINE_V2 = LINE.replace("Sales it is.", "Welcome to sales.")
YAML = "application/yaml"


async def upload(api: ApiClient, text: str = LINE, **params: str) -> tuple[int, dict[str, object]]:
    answer = await api.call("POST", "/workflows", data=text, content_type=YAML, params=params)
    return answer.status, answer.json


async def heard_on(api: ApiClient, number: str) -> list[str]:
    phone = Softphone(api.server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    result = await phone.call(ScriptedCaller(["1", CallerHungUp]), to=number)
    return list(result.transcript)


async def test_upload_is_a_draft_and_publishing_makes_it_answer_calls(api: ApiClient) -> None:
    status, body = await upload(api)
    assert status == 201
    assert body["origin"] == "api"
    assert body["published_version"] is None
    assert body["has_draft"] is True
    # A draft answers nothing: the demo's catch-all line takes the call.
    assert "Say: Sales it is." not in await heard_on(api, "+15005550002")

    published = await api.call("POST", "/workflows/sales-line/publish")
    assert published.status == 200
    assert published.json["published_version"] == 1
    assert published.json["has_draft"] is False
    assert "Say: Sales it is." in await heard_on(api, "+15005550002")


async def test_versions_are_numbered_and_a_roll_back_publishes_an_old_one_again(
    api: ApiClient,
) -> None:
    await upload(api, publish="true")
    await upload(api, LINE_V2, publish="true")
    assert "Say: Welcome to sales." in await heard_on(api, "+15005550002")

    rolled = await api.call("POST", "/workflows/sales-line/rollback", json_body={"version": 1})
    assert rolled.status == 200
    assert rolled.json["published_version"] == 3
    assert [(v["version"], v["note"]) for v in rolled.json["versions"]] == [
        (1, None),
        (2, None),
        (3, "rolled back to 1"),
    ]
    assert "Say: Sales it is." in await heard_on(api, "+15005550002")

    missing = await api.call("POST", "/workflows/sales-line/rollback", json_body={"version": 9})
    assert missing.status == 404
    bad = await api.call("POST", "/workflows/sales-line/rollback", json_body={"version": "x"})
    assert bad.status == 422
    assert bad.json["errors"][0]["field"] == "body.version"


async def test_problems_name_the_path_and_the_line(api: ApiClient) -> None:
    broken = LINE.replace('"1": sales', '"1": salse')
    answer = await api.call("POST", "/workflows", data=broken, content_type=YAML)
    assert answer.status == 422
    assert answer.content_type == "application/problem+json"
    assert answer.json["errors"] == [
        {"field": "steps.main.menu.options.1", "message": "unknown step 'salse'", "line": 10},
        {"field": "steps.sales", "message": "unreachable from start 'main'", "line": 11},
    ]
    checked = await api.call("POST", "/workflows/validate", data=broken, content_type=YAML)
    assert checked.status == 200
    assert checked.json["valid"] is False
    assert checked.json["problems"][0]["line"] == 10
    fine = await api.call("POST", "/workflows/validate", data=LINE, content_type=YAML)
    assert fine.json == {"valid": True, "id": "sales-line", "problems": []}
    assert (await api.call("GET", "/workflows/sales-line")).status == 404  # nothing stored


async def test_schedules_it_names_must_exist(api: ApiClient) -> None:
    closed = LINE.replace("start: main", "hours: office\nstart: main")
    answer = await api.call("POST", "/workflows", data=closed, content_type=YAML)
    assert answer.status == 422
    assert answer.json["errors"][0]["field"] == "hours"
    assert "unknown schedule 'office'" in answer.json["errors"][0]["message"]


async def test_bad_bodies_are_4xx_problems(api: ApiClient) -> None:
    not_yaml = await api.call("POST", "/workflows", data="id: [unclosed", content_type=YAML)
    assert not_yaml.status == 422
    assert not_yaml.json["errors"][0]["line"] == 1
    wrong_type = await api.call("POST", "/workflows", data=LINE, content_type="text/csv")
    assert wrong_type.status == 415
    too_big = await api.call("POST", "/workflows", data="#" * (1024 * 1024 + 1), content_type=YAML)
    assert too_big.status == 413
    as_json = await api.call("POST", "/workflows", json_body=yaml.safe_load(LINE))
    assert as_json.status == 201


async def test_export_gives_back_what_was_published(api: ApiClient) -> None:
    await upload(api, publish="true")
    exported = await api.call("GET", "/workflows/sales-line/export")
    assert exported.status == 200
    assert exported.content_type == "application/yaml"
    assert yaml.safe_load(exported.text)["steps"]["sales"]["say"]["text"] == "Sales it is."
    as_json = await api.call("GET", "/workflows/sales-line/export", params={"format": "json"})
    assert as_json.json["id"] == "sales-line"
    assert (
        await api.call("GET", "/workflows/sales-line/export", params={"version": "7"})
    ).status == 404
    assert (
        await api.call("GET", "/workflows/sales-line/export", params={"version": "latest"})
    ).status == 422


async def test_disabled_workflows_take_no_calls_and_deleted_ones_are_gone(api: ApiClient) -> None:
    await upload(api, publish="true")
    disabled = await api.call("POST", "/workflows/sales-line/disable")
    assert disabled.json["enabled"] is False
    assert "Say: Sales it is." not in await heard_on(api, "+15005550002")
    await api.call("POST", "/workflows/sales-line/enable")
    assert "Say: Sales it is." in await heard_on(api, "+15005550002")

    assert (await api.call("DELETE", "/workflows/sales-line")).status == 204
    assert (await api.call("GET", "/workflows/sales-line")).status == 404
    assert (await api.call("DELETE", "/workflows/sales-line")).status == 404


async def test_one_menus_options_can_be_patched_into_a_new_draft(api: ApiClient) -> None:
    await upload(api, publish="true")
    patched = await api.call(
        "PATCH",
        "/workflows/sales-line/menus/main",
        json_body={"options": {"1": "sales", "2": "sales"}},
    )
    assert patched.status == 200
    assert patched.json["has_draft"] is True
    draft = await api.call(
        "GET", "/workflows/sales-line/export", params={"version": "draft", "format": "json"}
    )
    assert set(draft.json["steps"]["main"]["menu"]["options"]) == {"1", "2"}
    dangling = await api.call(
        "PATCH", "/workflows/sales-line/menus/main", json_body={"options": {"1": "nowhere"}}
    )
    assert dangling.status == 422
    assert dangling.json["errors"][0]["field"] == "steps.main.menu.options.1"
    not_a_menu = await api.call(
        "PATCH", "/workflows/sales-line/menus/sales", json_body={"options": {"1": "main"}}
    )
    assert not_a_menu.status == 404


async def test_workflows_from_files_are_read_only_here(api: ApiClient) -> None:
    listed = await api.call("GET", "/workflows")
    demo = next(w for w in listed.json if w["origin"] == "file")
    assert demo["published_version"] == 1
    assert (await api.call("POST", f"/workflows/{demo['id']}/disable")).status == 409
    assert (await api.call("DELETE", f"/workflows/{demo['id']}")).status == 409
    same_id = LINE.replace("id: sales-line", f"id: {demo['id']}")
    clash = await api.call("POST", "/workflows", data=same_id, content_type=YAML)
    assert clash.status == 409
    assert "file" in clash.json["detail"]


async def test_a_version_is_drawn_as_a_diagram(api: ApiClient) -> None:
    status, _ = await upload(api)
    assert status == 201
    drawn = await api.call("GET", "/workflows/sales-line/diagram.svg", params={"version": "draft"})
    assert drawn.status == 200, drawn.text
    assert drawn.content_type == "image/svg+xml"
    assert "<title>main&#45;&gt;sales</title>" in drawn.text
    assert "Press 1 for sales." in drawn.text

    # Nothing published yet; a version that is no version; a workflow that does not exist.
    assert (await api.call("GET", "/workflows/sales-line/diagram.svg")).status == 404
    bad = await api.call("GET", "/workflows/sales-line/diagram.svg", params={"version": "v1"})
    assert bad.status == 422
    assert "version" in bad.text
    assert (await api.call("GET", "/workflows/nope/diagram.svg")).status == 404
