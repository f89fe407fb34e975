"""Publishing after commit: the database thread hands events to the event loop, which sends them in order.

Every send reaches the layer through `group_send_batch` (what was queued meanwhile as one batch):
the tests watch and steer that one entry point, whichever layer the run configures.
"""

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


def id_of(event: dict) -> int:
    """Return the message id of a message.new event."""
    return json.loads(event["text"])["data"]["message"]["id"]


async def received_ids(channel: str, count: int) -> list[int]:
    """Receive `count` message.new frames on a channel (bounded wait) and return their message ids."""
    layer = get_channel_layer()
    return [id_of(await asyncio.wait_for(layer.receive(channel), timeout=WAIT)) for _ in range(count)]


def publish_new_messages(ids: range, user_id: int) -> None:
    """Publish one message.new per id, each as a service does after its own commit."""
    for message_id in ids:
        publish.publish(
            user_ids=[user_id], frame_type=MessagingServerFrame.MESSAGE_NEW, data={"conversation_id": 1, "message": {"id": message_id}}
        )


@dataclass(frozen=True)
class HeldBatch:
    """The first batch sent to the layer, held: `started` once it is in the layer, sent once `release` is set."""

    started: asyncio.Event
    release: asyncio.Event


def hold_the_first_batch(monkeypatch) -> HeldBatch:
    """Hold the first batch sent to the configured layer until released; later batches go straight through."""
    layer = get_channel_layer()
    real_group_send_batch = layer.group_send_batch
    held = HeldBatch(asyncio.Event(), asyncio.Event())

    async def holding_group_send_batch(sends):
        if not held.started.is_set():
            held.started.set()
            await held.release.wait()
        await real_group_send_batch(sends)

    monkeypatch.setattr(layer, "group_send_batch", holding_group_send_batch)
    return held


def fail_the_batches_with(monkeypatch, bad_id: int) -> None:
    """Make every batch sent to the configured layer that holds message `bad_id` fail, as a layer error."""
    layer = get_channel_layer()
    real_group_send_batch = layer.group_send_batch

    async def failing_group_send_batch(sends):
        if any(id_of(event) == bad_id for _, event in sends):
            raise ConnectionError("layer down")
        await real_group_send_batch(sends)

    monkeypatch.setattr(layer, "group_send_batch", failing_group_send_batch)


async def test_events_published_from_the_database_thread_arrive_in_publishing_order(monkeypatch):
    channel = await member_of(user_group(901))
    first_batch = hold_the_first_batch(monkeypatch)
    await db.call(publish_new_messages, range(1, 2), 901)
    await asyncio.wait_for(first_batch.started.wait(), timeout=WAIT)
    # Queued while the first send is out: sent after it, never beside it, as one batch in order.
    await db.call(publish_new_messages, range(2, 31), 901)
    first_batch.release.set()
    assert await received_ids(channel, 30) == list(range(1, 31))


async def test_the_database_thread_does_not_wait_for_the_channel_layer(monkeypatch):
    channel = await member_of(user_group(902))
    first_batch = hold_the_first_batch(monkeypatch)
    # Were the database thread waiting for the send, this would never return (the send waits for us).
    await asyncio.wait_for(db.call(publish_new_messages, range(5, 7), 902), timeout=WAIT)
    first_batch.release.set()
    assert await received_ids(channel, 2) == [5, 6]


async def test_a_failing_send_is_logged_and_the_ones_queued_with_it_still_go_out(monkeypatch, caplog):
    channel = await member_of(user_group(903))
    first_batch = hold_the_first_batch(monkeypatch)
    fail_the_batches_with(monkeypatch, bad_id=2)
    await db.call(publish_new_messages, range(1, 2), 903)
    await asyncio.wait_for(first_batch.started.wait(), timeout=WAIT)
    await db.call(publish_new_messages, range(2, 4), 903)  # one batch behind the first: 2 fails, 3 must not
    first_batch.release.set()
    assert await received_ids(channel, 2) == [1, 3]
    assert "live events not sent in one batch (events: 2, groups: 1): ConnectionError" in caplog.text
    assert "live event to user.903 not sent: ConnectionError" in caplog.text


async def test_a_layer_without_group_send_batch_still_gets_every_event_in_order(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}  # Channels' own
    channel = await member_of(user_group(908))
    await db.call(publish_new_messages, range(1, 4), 908)
    assert await received_ids(channel, 3) == [1, 2, 3]


@dataclass(frozen=True)
class LayerSend:
    """One event of a batch sent to the channel layer: its groups, and the event loop the batch was sent on."""

    groups: tuple[str, ...]
    loop: asyncio.AbstractEventLoop


def layer_sends(monkeypatch) -> list[LayerSend]:
    """Record every event of every batch sent to the configured channel layer (and still send it)."""
    layer = get_channel_layer()
    sent: list[LayerSend] = []
    real_group_send_batch = layer.group_send_batch

    async def recording_group_send_batch(sends):
        loop = asyncio.get_running_loop()
        sent.extend(LayerSend(tuple(groups), loop) for groups, _ in sends)
        await real_group_send_batch(sends)

    monkeypatch.setattr(layer, "group_send_batch", recording_group_send_batch)
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

    async def layer_down(sends):
        raise ConnectionError("layer down")

    monkeypatch.setattr(layer, "group_send_batch", layer_down)
    await publish.apublish(user_ids=[906, 907], frame_type=MessagingServerFrame.TYPING, data={"conversation_id": 1})
    assert "live event to 2 groups (user.906, ...) not sent: ConnectionError" in caplog.text


def test_a_frame_whose_data_is_already_encoded_is_the_frame_of_that_data():
    data = {"users": [{"user_id": 1, "status": "online", "last_seen": None, "name": "Zoë"}]}
    for ref in (None, "r1"):
        assert publish.encode_frame("presence.snapshot", publish.EncodedJSON(publish.encode_json(data)), ref) == publish.encode_frame(
            "presence.snapshot", data, ref
        )
    assert json.loads(publish.encode_frame("pong", {}, "r1")) == {"type": "pong", "data": {}, "ref": "r1"}
