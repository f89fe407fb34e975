"""Idle sockets, the grace, presence_visible and leaving, through the socket hooks and the REST API (issue 14)."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from messaging import services as messaging_services
from presence import runtime
from presence.models import LastSeen
from presence.protocol import PresenceClientFrame, PresenceServerFrame
from presence.realtime import SOCKET_APP, socket_closed
from presence.selectors import Status
from realtime.protocol import user_group
from tests.support.messaging import direct
from tests.support.presence import open_presence
from tests.support.realtime import refusal_of

pytestmark = pytest.mark.django_db(transaction=True)

ACTIVITY = SOCKET_APP.handlers[PresenceClientFrame.ACTIVITY]


def statuses_sent(announcements) -> list[tuple[int, str, str | None]]:
    return [(frame["data"]["user_id"], frame["data"]["status"], frame["data"]["last_seen"]) for frame in announcements.frames()]


@pytest.fixture
def alice_bob(alice, bob):
    return direct(alice, bob)


async def test_activity_idle_on_every_socket_announces_idle_once_and_active_announces_online(
    alice, bob, alice_bob, socket_of, announcements
):
    phone, laptop = socket_of(alice), socket_of(alice)
    await open_presence(phone.ctx)
    await open_presence(laptop.ctx)
    announcements.sent.clear()

    await ACTIVITY(phone.ctx, {"state": "idle"}, None)
    assert announcements.sent == []  # the laptop is still active
    await ACTIVITY(laptop.ctx, {"state": "idle"}, None)
    await ACTIVITY(laptop.ctx, {"state": "idle"}, None)
    await ACTIVITY(phone.ctx, {"state": "active"}, None)

    assert statuses_sent(announcements) == [(alice.pk, Status.IDLE, None), (alice.pk, Status.ONLINE, None)]
    assert announcements.groups() == [user_group(bob.pk)] * 2


@pytest.mark.parametrize("data", [{}, {"state": "away"}, {"state": 1}, {"state": None}])
async def test_a_malformed_activity_frame_is_refused_and_changes_nothing(alice, bob, alice_bob, socket_of, announcements, data):
    phone = socket_of(alice)
    await open_presence(phone.ctx)
    announcements.sent.clear()

    refusal = await refusal_of(ACTIVITY, phone.ctx, data, None)

    assert refusal.code == "invalid"
    assert announcements.sent == []


async def test_with_a_grace_a_reload_announces_nothing_and_a_leave_is_announced_once_the_grace_ends(
    alice, bob, alice_bob, socket_of, announcements, settings
):
    settings.DEDWEN_PRESENCE_GRACE = 0.3
    page, next_page = socket_of(alice), socket_of(alice)
    await open_presence(page.ctx)
    announcements.sent.clear()

    await socket_closed(page.ctx)  # a navigation: the next page's socket opens within the grace
    await open_presence(next_page.ctx)
    await socket_closed(next_page.ctx)  # now she leaves

    assert announcements.sent == []
    assert not await sync_to_async(LastSeen.objects.filter(user=alice).exists)()
    for _ in range(100):  # the heartbeat's tick ends the grace (bounded wait)
        if announcements.sent:
            break
        await asyncio.sleep(0.05)
    [(user_id, status, last_seen)] = statuses_sent(announcements)
    assert (user_id, status) == (alice.pk, Status.OFFLINE) and last_seen is not None
    await runtime.stop_heartbeat()


async def test_an_invisible_user_is_offline_without_last_seen_in_snapshots_and_changes_nothing_for_others(
    alice, bob, alice_bob, socket_of, announcements, db_calls
):
    await sync_to_async(LastSeen.objects.create)(user=alice, at="2026-01-02T03:04:05Z")
    await sync_to_async(_set_visible)(alice, False)
    announcements.sent.clear()
    alices, bobs = socket_of(alice), socket_of(bob)

    await open_presence(alices.ctx)
    await open_presence(bobs.ctx)
    await ACTIVITY(alices.ctx, {"state": "idle"}, None)
    await socket_closed(alices.ctx)

    [snapshot] = bobs.sent
    assert snapshot["data"]["users"] == [{"user_id": alice.pk, "status": Status.OFFLINE, "last_seen": None}]
    assert [frame for frame in announcements.frames() if frame["data"]["user_id"] == alice.pk] == []
    [alices_snapshot] = alices.sent  # she still sees bob
    assert [entry["user_id"] for entry in alices_snapshot["data"]["users"]] == [bob.pk]
    assert db_calls.trips == 4  # the two snapshots, idle's announcement check, last_seen on the close


def _set_visible(user, visible: bool) -> None:
    from presence import services

    services.set_visibility(user_id=user.pk, visible=visible)


@pytest.mark.django_db
def test_switching_visibility_announces_at_once_what_contacts_now_see(alice, bob, alice_bob, api, broadcasts):
    with broadcasts() as sent:
        response = api(alice).patch("/api/me/", {"presence_visible": False}, format="json")
    assert response.status_code == 200 and response.json()["presence_visible"] is False
    assert sent.groups() == [user_group(bob.pk)]
    assert [frame["data"] for frame in sent.frames()] == [{"user_id": alice.pk, "status": Status.OFFLINE, "last_seen": None}]

    with broadcasts() as sent:
        assert api(alice).patch("/api/me/", {"presence_visible": False}, format="json").status_code == 200
    assert sent.sent == []  # no change, nothing to tell

    LastSeen.objects.create(user=alice, at="2026-01-02T03:04:05Z")
    with broadcasts() as sent:
        assert api(alice).patch("/api/me/", {"presence_visible": True}, format="json").json()["presence_visible"] is True
    assert [frame["data"] for frame in sent.frames()] == [
        {"user_id": alice.pk, "status": Status.OFFLINE, "last_seen": "2026-01-02T03:04:05Z"}
    ]
    assert api(alice).get("/api/me/").json()["presence_visible"] is True


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"presence_visible": "no"}, {"presence_visible": 0}, {"presence_visible": None}])
def test_a_bad_presence_visible_is_a_400_json_error(alice, api, body):
    response = api(alice).patch("/api/me/", body, format="json")
    assert response.status_code == 400 and "error" in response.json()
    assert api(alice).get("/api/me/").json()["presence_visible"] is True


@pytest.mark.django_db
def test_rest_shows_an_invisible_contact_offline_without_last_seen(alice, bob, alice_bob, api):
    LastSeen.objects.create(user=alice, at="2026-01-02T03:04:05Z")
    _set_visible(alice, False)

    assert api(bob).get(f"/api/presence/?user={alice.pk}").json() == [
        {"user_id": alice.pk, "status": Status.OFFLINE, "last_seen": None}
    ]
    assert api(alice).get(f"/api/presence/?user={bob.pk}").json()[0]["user_id"] == bob.pk  # she still sees bob


@pytest.mark.django_db
def test_leaving_the_only_shared_conversation_unsees_both_ways_at_once(alice, bob, carol, api, broadcasts):
    trio = messaging_services.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title="t").conversation
    direct(alice, carol)  # alice still shares a conversation with carol; bob does not

    with broadcasts() as sent:
        assert api(carol).post(f"/api/conversations/{trio.pk}/leave/").status_code == 204

    unseen = {
        (group, frame["data"]["user_id"], frame["data"]["status"], frame["data"]["last_seen"])
        for group in (user_group(alice.pk), user_group(bob.pk), user_group(carol.pk))
        for frame in sent.frames(group)
        if frame["type"] == PresenceServerFrame.PRESENCE
    }
    assert unseen == {(user_group(bob.pk), carol.pk, Status.OFFLINE, None), (user_group(carol.pk), bob.pk, Status.OFFLINE, None)}
