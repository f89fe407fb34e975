"""Publishing after commit: the database thread hands events to the event loop, which sends them in order."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import HttpCommunicator

from messaging.protocol import MessagingServerFrame
from realtime import db, publish
from realtime.protocol import user_group
from tests.support.cast import mint_device
from tests.support.messaging import direct
from tests.support.waiting import auntil

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 5.0  # seconds: the bound on every wait


async def member_of(group: str) -> str:
    """Return a fresh channel of the configured layer, added to a group."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def received_ids(channel: str, count: int) -> list[int]:
    """Receive `count` message.new frames on a channel (bounded wait) and return their message ids."""
    layer = get_channel_layer()
    ids = []
    for _ in range(count):
        event = await asyncio.wait_for(layer.receive(channel), timeout=WAIT)
        ids.append(json.loads(event["text"])["data"]["message"]["id"])
    return ids


def publish_new_messages(ids: range, user_id: int) -> None:
    """Publish one message.new per id, each as a service does after its own commit."""
    for message_id in ids:
        publish.publish(
            user_ids=[user_id], frame_type=MessagingServerFrame.MESSAGE_NEW, data={"conversation_id": 1, "message": {"id": message_id}}
        )


async def test_events_published_from_the_database_thread_arrive_in_publishing_order(monkeypatch):
    layer = get_channel_layer()
    real_group_send = layer.group_send
    ids = range(1, 31)

    async def uneven_group_send(group, message):
        # Earlier events take longer (more turns of the loop): sends that overlapped would arrive reversed.
        for _ in range(ids.stop - json.loads(message["text"])["data"]["message"]["id"]):
            await asyncio.sleep(0)
        await real_group_send(group, message)

    channel = await member_of(user_group(901))
    monkeypatch.setattr(layer, "group_send", uneven_group_send)
    await db.call(publish_new_messages, ids, 901)
    assert await received_ids(channel, len(ids)) == list(ids)


async def test_the_database_thread_does_not_wait_for_the_channel_layer(monkeypatch):
    layer = get_channel_layer()
    real_group_send = layer.group_send
    release = asyncio.Event()

    async def held_group_send(group, message):
        await release.wait()
        await real_group_send(group, message)

    channel = await member_of(user_group(902))
    monkeypatch.setattr(layer, "group_send", held_group_send)
    # Were the database thread waiting for the send, this would never return (the send waits for us).
    await asyncio.wait_for(db.call(publish_new_messages, range(5, 7), 902), timeout=WAIT)
    release.set()
    assert await received_ids(channel, 2) == [5, 6]


async def test_a_failing_send_is_logged_and_the_next_ones_still_go_out(monkeypatch, caplog):
    layer = get_channel_layer()
    real_group_send = layer.group_send

    async def first_fails(group, message):
        if json.loads(message["text"])["data"]["message"]["id"] == 1:
            raise ConnectionError("layer down")
        await real_group_send(group, message)

    channel = await member_of(user_group(903))
    monkeypatch.setattr(layer, "group_send", first_fails)
    await db.call(publish_new_messages, range(1, 3), 903)
    assert await received_ids(channel, 1) == [2]
    assert "live event to user.903 not sent: ConnectionError" in caplog.text


@dataclass(frozen=True)
class LayerSend:
    """One call of the channel layer's group send: the groups, and the event loop it ran on."""

    groups: tuple[str, ...]
    loop: asyncio.AbstractEventLoop


def layer_sends(monkeypatch) -> list[LayerSend]:
    """Record every group send made on the configured channel layer (and still make it)."""
    layer = get_channel_layer()
    sent: list[LayerSend] = []
    real_group_send = layer.group_send

    async def recording_group_send(group, message):
        sent.append(LayerSend((group,), asyncio.get_running_loop()))
        await real_group_send(group, message)

    real_group_send_many = layer.group_send_many

    async def recording_group_send_many(groups, message):
        sent.append(LayerSend(tuple(groups), asyncio.get_running_loop()))
        await real_group_send_many(groups, message)

    monkeypatch.setattr(layer, "group_send", recording_group_send)
    monkeypatch.setattr(layer, "group_send_many", recording_group_send_many)
    return sent


def test_without_an_event_loop_the_caller_sends_and_waits(monkeypatch):
    sent = layer_sends(monkeypatch)
    publish_new_messages(range(1, 2), 904)
    assert [send.groups for send in sent] == [(user_group(904),)]  # already sent when the call returned


def test_a_thread_whose_event_loop_has_stopped_sends_itself_instead_of_hanging(monkeypatch):
    sent = layer_sends(monkeypatch)
    stopped = asyncio.new_event_loop()
    done = threading.Event()

    def database_thread_at_shutdown():
        publish.serving_loop.set(stopped)  # the loop this thread worked for, no longer running
        publish_new_messages(range(1, 2), 905)
        done.set()

    thread = threading.Thread(target=database_thread_at_shutdown, daemon=True)
    thread.start()
    thread.join(timeout=WAIT)
    stopped.close()
    assert done.is_set(), "the send waited on a stopped event loop"
    assert [send.groups for send in sent] == [(user_group(905),)]
    assert sent[0].loop is not stopped


async def test_a_rest_views_publish_is_handed_to_the_loop_serving_the_request(alice, bob, monkeypatch):
    from dedwen.asgi import application

    conversation = await sync_to_async(direct)(alice, bob)
    token = (await sync_to_async(mint_device)(alice)).token
    body = json.dumps({"body": "over REST", "client_id": "rest-1"}).encode()
    headers = {"host": "localhost", "authorization": f"Bearer {token}", "content-type": "application/json"}
    headers["content-length"] = str(len(body))
    sent = layer_sends(monkeypatch)
    request = HttpCommunicator(
        application,
        "POST",
        f"/api/conversations/{conversation.pk}/messages/",
        body=body,
        headers=[(name.encode(), value.encode()) for name, value in headers.items()],
    )

    response = await request.get_response(timeout=WAIT)

    assert response["status"] == 201, response["body"]
    everyone = {user_group(alice.pk), user_group(bob.pk)}
    await auntil(lambda: everyone in [set(send.groups) for send in sent], what="message.new sent to both")
    assert all(send.loop is asyncio.get_running_loop() for send in sent), "sent from a fresh event loop, not the serving one"


async def test_a_send_to_several_groups_that_fails_is_logged_not_raised(monkeypatch, caplog):
    layer = get_channel_layer()

    async def layer_down(groups, message):
        raise ConnectionError("layer down")

    monkeypatch.setattr(layer, "group_send_many", layer_down)
    await publish.apublish(user_ids=[906, 907], frame_type=MessagingServerFrame.TYPING, data={"conversation_id": 1})
    assert "live event to 2 groups (user.906, ...) not sent: ConnectionError" in caplog.text
