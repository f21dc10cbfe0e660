"""Which workflow answers a call: ``trigger.when`` filters on the caller's contact attributes
and on business hours, tried in order (the called number's workflows first), on a real server."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from ivr.softphone import ScriptedCaller, Softphone
from tests.clock import MONDAY, MovableClock, next_weekday_at, on_day_at
from tests.conftest import AUTH_TOKEN, PUBLIC_URL, RunningServer, ServerFactory, workflow
from workflows.contacts import set_attributes

SEOUL = ZoneInfo("Asia/Seoul")
MONDAY_10 = next_weekday_at(MONDAY, time(10, 0), SEOUL)
MONDAY_20 = on_day_at(MONDAY_10, 0, time(20, 0))
NOW = MONDAY_10
OUR_NUMBER = "+15005550001"
VIP = "+821012345678"
REGULAR = "+821087654321"

VIP_LINE = workflow(
    """
id: a-vip-line
trigger:
  event: call.incoming
  when: {contact: {attribute: tier, eq: VIP}}
start: hello
steps:
  hello: {say: "Welcome back. Connecting you to your account manager."}
"""
)
CLOSED_LINE = workflow(
    """
id: b-closed-line
trigger:
  event: call.incoming
  to: "+15005550001"
  when: {closed: office}
start: closed
steps:
  closed: {say: "We are closed."}
"""
)
MAIN_LINE = workflow(
    """
id: c-main-line
trigger: {event: call.incoming}
start: hello
steps:
  hello: {say: "Thank you for calling."}
"""
)


def office_hours(tmp_path: Path) -> Path:
    flows = tmp_path / "flows"
    (flows / "schedules").mkdir(parents=True)
    (flows / "schedules" / "office.yaml").write_text(
        'timezone: Asia/Seoul\nweekly: {mon: ["09:00-18:00"], tue: ["09:00-18:00"]}\n'
    )
    return flows


async def heard(server: RunningServer, caller: str) -> str:
    phone = Softphone(server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    result = await phone.call(ScriptedCaller(), from_=caller, to=OUR_NUMBER)
    return str(result.transcript[0])


async def start(servers: ServerFactory, tmp_path: Path, at: datetime) -> RunningServer:
    return await servers.start(
        [VIP_LINE, CLOSED_LINE, MAIN_LINE], clock=MovableClock(at), flows_dir=office_hours(tmp_path)
    )


async def test_vip_callers_get_their_line_and_others_the_main_one(
    servers: ServerFactory, tmp_path: Path
) -> None:
    server = await start(servers, tmp_path, MONDAY_10)
    await server.db.write(lambda conn: set_attributes(conn, VIP, {"tier": "VIP"}, now=NOW))
    assert await heard(server, VIP) == "Say: Welcome back. Connecting you to your account manager."
    assert await heard(server, REGULAR) == "Say: Thank you for calling."


async def test_the_called_numbers_workflow_is_tried_first_and_its_filter_decides(
    servers: ServerFactory, tmp_path: Path
) -> None:
    # Monday 20:00 in Seoul: closed. The closed line names the number called, so it is tried
    # before the VIP line (a catch-all), even for a VIP.
    server = await start(servers, tmp_path, MONDAY_20)
    await server.db.write(lambda conn: set_attributes(conn, VIP, {"tier": "VIP"}, now=NOW))
    assert await heard(server, VIP) == "Say: We are closed."
    assert await heard(server, REGULAR) == "Say: We are closed."


async def test_contacts_are_remembered_from_their_first_call(
    servers: ServerFactory, tmp_path: Path
) -> None:
    server = await start(servers, tmp_path, MONDAY_10)
    await heard(server, REGULAR)
    assert await server.count("contacts") == 1


BRANCHING_LINE = workflow(
    """
id: a-branching-line
trigger: {event: call.incoming, to: "+15005550009"}
start: by_tier
steps:
  by_tier:
    branch: {on: contact.tier, cases: {VIP: vip}, else: everyone}
  vip: {say: "Hello, valued customer."}
  everyone: {say: "Hello."}
"""
)


async def test_a_call_can_branch_on_the_callers_contact(
    servers: ServerFactory, tmp_path: Path
) -> None:
    server = await servers.start([BRANCHING_LINE], flows_dir=office_hours(tmp_path))
    await server.db.write(lambda conn: set_attributes(conn, VIP, {"tier": "VIP"}, now=NOW))
    phone = Softphone(server.base_url, auth_token=AUTH_TOKEN, public_url=PUBLIC_URL)
    vip = await phone.call(ScriptedCaller(), from_=VIP, to="+15005550009")
    other = await phone.call(ScriptedCaller(), from_=REGULAR, to="+15005550009")
    assert vip.transcript[0] == "Say: Hello, valued customer."
    assert other.transcript[0] == "Say: Hello."
