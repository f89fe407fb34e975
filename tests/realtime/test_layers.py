"""The channel layer the settings choose, and how it behaves under the sockets' use of it."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from redis.asyncio import BlockingConnectionPool

from realtime.layers import (
    MULTICAST_MIN_GROUPS,
    InProcessChannelLayer,
    RedisPubSubChannelLayer,
)
from realtime.protocol import EVENT_FRAME, device_group, user_group
from realtime.publish import apublish_many


async def test_a_group_send_reaches_every_member_and_only_them():
    layer = get_channel_layer()
    member, other = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(user_group(1), member)
    await layer.group_add(user_group(2), other)
    await layer.group_send(user_group(2), {"type": EVENT_FRAME, "text": "for 2"})
    await layer.group_send(user_group(1), {"type": EVENT_FRAME, "text": "for 1"})
    # Each receives its own group's event first: the other group's, sent earlier, never reached it.
    assert await asyncio.wait_for(layer.receive(member), 5) == {"type": EVENT_FRAME, "text": "for 1"}
    assert await asyncio.wait_for(layer.receive(other), 5) == {"type": EVENT_FRAME, "text": "for 2"}
    await layer.group_discard(user_group(1), member)
    await layer.group_discard(user_group(2), other)


def test_without_redis_the_layer_is_in_process(settings):
    if settings.REDIS_URL is None:
        assert isinstance(get_channel_layer(), InProcessChannelLayer)


@pytest.mark.usefixtures("redis_url")
async def test_with_redis_the_layer_is_pubsub_with_a_pool_that_waits(settings):
    layer = get_channel_layer()
    assert isinstance(layer, RedisPubSubChannelLayer)
    await layer.group_send(user_group(1), {"type": EVENT_FRAME, "text": "x"})
    pool = layer._get_layer()._shards[0]._redis.connection_pool
    assert isinstance(pool, BlockingConnectionPool)
    assert pool.max_connections == 64


@pytest.mark.usefixtures("redis_url")
async def test_an_unreachable_redis_fails_the_call_instead_of_hanging(settings):
    from redis.exceptions import ConnectionError as RedisConnectionError

    layer = RedisPubSubChannelLayer(hosts=[{"address": "redis://127.0.0.1:1/0", "socket_connect_timeout": 1}])
    channel = await layer.new_channel()  # only named: subscribed with its groups
    with pytest.raises((RedisConnectionError, OSError)):
        await layer.group_add_many([user_group(1)], channel)


async def test_one_event_sent_to_several_groups_reaches_the_members_of_each():
    import asyncio

    layer = get_channel_layer()
    first, second = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(user_group(11), first)
    await layer.group_add(user_group(12), second)
    event = {"type": EVENT_FRAME, "text": "many"}
    await layer.group_send_many([user_group(11), user_group(12), user_group(13)], event)
    assert await asyncio.wait_for(layer.receive(first), timeout=5) == event
    assert await asyncio.wait_for(layer.receive(second), timeout=5) == event
    await layer.group_discard(user_group(11), first)
    await layer.group_discard(user_group(12), second)


async def test_a_channel_added_to_several_groups_at_once_receives_from_each():
    layer = get_channel_layer()
    alice_tab = await layer.new_channel()
    await layer.group_add_many([user_group(21), device_group(21)], alice_tab)
    await layer.group_send(device_group(21), {"type": EVENT_FRAME, "text": "to the device"})
    await layer.group_send(user_group(21), {"type": EVENT_FRAME, "text": "to the user"})
    assert await asyncio.wait_for(layer.receive(alice_tab), 5) == {"type": EVENT_FRAME, "text": "to the device"}
    assert await asyncio.wait_for(layer.receive(alice_tab), 5) == {"type": EVENT_FRAME, "text": "to the user"}
    await layer.group_discard_many([user_group(21), device_group(21)], alice_tab)
    await layer.group_send(user_group(21), {"type": EVENT_FRAME, "text": "after leaving"})
    await layer.send(alice_tab, {"type": EVENT_FRAME, "text": "direct"})
    assert await asyncio.wait_for(layer.receive(alice_tab), 5) == {"type": EVENT_FRAME, "text": "direct"}


def commands_sent(monkeypatch, shard, command: str) -> list[tuple[str, ...]]:
    """Record the channels of each SUBSCRIBE or UNSUBSCRIBE ("subscribe", "unsubscribe") the shard sends from now on."""
    sent: list[tuple[str, ...]] = []
    real = getattr(shard._pubsub, command)

    async def recording(*channels):
        sent.append(channels)
        return await real(*channels)

    monkeypatch.setattr(shard._pubsub, command, recording)
    return sent


@pytest.mark.usefixtures("redis_url")
async def test_with_redis_a_sockets_channel_and_groups_are_one_subscribe(monkeypatch):
    layer = get_channel_layer()
    await layer.group_send(user_group(1), {"type": EVENT_FRAME, "text": "x"})  # the connections exist
    await layer.group_add_many([user_group(1)], await layer.new_channel())  # and the multicast subscription
    subscribes = commands_sent(monkeypatch, layer._get_layer()._shards[0], "subscribe")
    alice_tab = await layer.new_channel()
    await layer.group_add_many([user_group(31), device_group(31)], alice_tab)
    assert len(subscribes) == 1 and len(subscribes[0]) == 3
    await layer.group_send(user_group(31), {"type": EVENT_FRAME, "text": "hello"})
    assert await asyncio.wait_for(layer.receive(alice_tab), 5) == {"type": EVENT_FRAME, "text": "hello"}


def many_groups(*members: int) -> list[str]:
    """Return user groups enough for a multicast, the members' among them."""
    return [user_group(member) for member in members] + [user_group(9000 + n) for n in range(MULTICAST_MIN_GROUPS)]


async def first_of(layer, channel: str) -> dict:
    return await asyncio.wait_for(layer.receive(channel), 5)


def another_process() -> RedisPubSubChannelLayer:
    """Return a pub/sub layer of its own on the settings' Redis, as another server process has."""
    return RedisPubSubChannelLayer(**django_settings.CHANNEL_LAYERS["default"]["CONFIG"])


@pytest.mark.usefixtures("redis_url")
async def test_a_multicast_reaches_each_member_on_every_process_once_and_nobody_else():
    one, two = another_process(), another_process()
    try:
        alice_here, bob_there = await one.new_channel(), await two.new_channel()
        carol_here, carol_there = await one.new_channel(), await two.new_channel()  # in none of the groups
        await one.group_add_many([user_group(41), device_group(41)], alice_here)
        await two.group_add_many([user_group(42)], bob_there)
        await one.group_add_many([user_group(43)], carol_here)
        await two.group_add_many([user_group(43)], carol_there)
        event = {"type": EVENT_FRAME, "text": "to many"}
        # alice is named twice (her user and device groups): she still receives it once.
        await one.group_send_many([device_group(41), *many_groups(41, 42)], event)
        after = {"type": EVENT_FRAME, "text": "after"}
        for layer in (one, two):
            await layer.group_send_many([user_group(41), user_group(42), user_group(43)], after)
        # Each process's own members have its messages first; across processes there is no order.
        assert [await first_of(one, alice_here) for _ in range(3)] == [event, after, after]  # not the multicast again
        assert sorted([await first_of(two, bob_there) for _ in range(3)], key=str) == sorted([event, after, after], key=str)
        assert [await first_of(one, carol_here) for _ in range(2)] == [after, after]
        assert [await first_of(two, carol_there) for _ in range(2)] == [after, after]
        # ... and nothing more.
        for layer, channel in ((one, alice_here), (two, bob_there), (one, carol_here), (two, carol_there)):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(layer.receive(channel), 0.2)
    finally:
        await one.flush()
        await two.flush()


@pytest.mark.usefixtures("redis_url")
async def test_publishing_does_not_wait_for_a_subscribe_in_flight(monkeypatch):
    layer = get_channel_layer()
    alice_tab = await layer.new_channel()
    await layer.group_add_many([user_group(51)], alice_tab)
    shard = layer._get_layer()._shards[0]
    real_subscribe, started, release = shard._pubsub.subscribe, asyncio.Event(), asyncio.Event()

    async def slow_subscribe(*channels):
        started.set()
        await release.wait()
        return await real_subscribe(*channels)

    monkeypatch.setattr(shard._pubsub, "subscribe", slow_subscribe)
    bob_tab = await layer.new_channel()
    joining = asyncio.ensure_future(layer.group_add_many([user_group(52)], bob_tab))
    try:
        await asyncio.wait_for(started.wait(), 5)  # bob's SUBSCRIBE holds the shard's lock
        event = {"type": EVENT_FRAME, "text": "meanwhile"}
        await asyncio.wait_for(layer.group_send(user_group(51), event), 5)
        await asyncio.wait_for(layer.group_send_many(many_groups(51), event), 5)
        assert await first_of(layer, alice_tab) == event
        assert await first_of(layer, alice_tab) == event
        assert not joining.done()
    finally:
        release.set()
        await asyncio.wait_for(joining, 5)
    await layer.group_send(user_group(52), {"type": EVENT_FRAME, "text": "joined"})
    assert await first_of(layer, bob_tab) == {"type": EVENT_FRAME, "text": "joined"}


def checkouts(monkeypatch, shard) -> list[object]:
    """Record each connection the shard takes from its pool from now on."""
    taken: list[object] = []
    pool = shard._redis.connection_pool
    real = pool.get_connection

    async def recording(*args, **kwargs):
        connection = await real(*args, **kwargs)
        taken.append(connection)
        return connection

    monkeypatch.setattr(pool, "get_connection", recording)
    return taken


async def publisher_of(layer, group: str):
    """Publish once to the group, so that the shard holds its publishing connection; return the shard."""
    shard = layer._get_layer()._shards[0]
    await layer.group_send(group, {"type": EVENT_FRAME, "text": "warm"})
    assert shard._publisher is not None
    return shard


async def client_id(connection) -> int:
    """Return the id Redis gives the connection's client."""
    await connection.send_command("CLIENT", "ID")
    return await connection.read_response()


@pytest.mark.usefixtures("redis_url")
async def test_with_redis_publishes_go_out_on_one_held_connection_in_order(monkeypatch):
    layer, there = get_channel_layer(), another_process()
    try:
        [bob_there] = await tabs_in(there, user_group(61))
        shard = await publisher_of(layer, user_group(61))
        assert (await first_of(there, bob_there))["text"] == "warm"
        taken = checkouts(monkeypatch, shard)
        events = [{"type": EVENT_FRAME, "text": text} for text in ("lone", "batched 1", "batched 2", "lone again")]
        await layer.group_send(user_group(61), events[0])
        await layer.group_send_batch([([user_group(61)], events[1]), ([user_group(61)], events[2])])
        await layer.group_send_batch([([user_group(61)], events[3])])
        assert [await first_of(there, bob_there) for _ in events] == events  # through Redis, in order
        assert taken == []  # no checkout per command: the connection stayed with the shard
    finally:
        await there.flush()


@pytest.mark.usefixtures("redis_url")
async def test_with_redis_the_publishing_connection_goes_back_to_the_pool_after_a_while(monkeypatch):
    monkeypatch.setattr("realtime.layers.PUBLISHER_HELD_FOR", 0.0)
    layer = get_channel_layer()
    shard = await publisher_of(layer, user_group(63))
    held = shard._publisher
    taken = checkouts(monkeypatch, shard)
    await layer.group_send(user_group(63), {"type": EVENT_FRAME, "text": "later"})
    assert taken == [held]  # handed back, so the pool could hand it out again (checking it on the way)


@pytest.mark.usefixtures("redis_url")
async def test_with_redis_a_publish_on_a_connection_redis_closed_goes_out_on_a_fresh_one():
    layer, there = get_channel_layer(), another_process()
    try:
        [bob_there] = await tabs_in(there, user_group(64))
        shard = await publisher_of(layer, user_group(64))
        assert (await first_of(there, bob_there))["text"] == "warm"
        killed = await client_id(shard._publisher)
        await shard._redis.execute_command("CLIENT", "KILL", "ID", killed)  # as a Redis restart would
        event = {"type": EVENT_FRAME, "text": "after the kill"}
        await layer.group_send(user_group(64), event)
        assert await first_of(there, bob_there) == event
        assert await client_id(shard._publisher) != killed  # connected again
    finally:
        await there.flush()


@pytest.mark.usefixtures("redis_url")
async def test_with_redis_a_received_message_builds_no_debug_line(caplog):
    caplog.set_level(logging.DEBUG, logger="push_response")  # redis-py's RESP3 push handler logs there
    layer, there = get_channel_layer(), another_process()
    try:
        [alice_tab] = await tabs_in(layer, user_group(62))
        event = {"type": EVENT_FRAME, "text": "pushed"}
        await there.group_send(user_group(62), event)  # so that it comes from Redis
        assert await first_of(layer, alice_tab) == event
    finally:
        await there.flush()
    assert [record for record in caplog.records if record.name == "push_response"] == []


@pytest.mark.usefixtures("redis_url")
async def test_with_redis_this_processs_members_have_a_group_message_before_redis_and_only_once(monkeypatch):
    layer, there = get_channel_layer(), another_process()
    try:
        [alice_here] = await tabs_in(layer, user_group(91))
        [bob_there] = await tabs_in(there, user_group(91))
        shard = layer._get_layer()._shards[0]
        redis_may_have_it, real_publish = asyncio.Event(), shard.publish_pairs

        async def held_publish(publishes):
            await redis_may_have_it.wait()
            await real_publish(publishes)

        monkeypatch.setattr(shard, "publish_pairs", held_publish)
        event = {"type": EVENT_FRAME, "text": "hello"}
        sending = asyncio.ensure_future(layer.group_send(user_group(91), event))
        assert await first_of(layer, alice_here) == event  # while the PUBLISH waits
        redis_may_have_it.set()
        await asyncio.wait_for(sending, 5)
        assert await first_of(there, bob_there) == event  # from Redis, without the origin it carried there
        marker = {"type": EVENT_FRAME, "text": "marker"}
        await there.group_send(user_group(91), marker)  # published after the event: Redis hands it over after
        assert await first_of(layer, alice_here) == marker  # not the event again
    finally:
        await there.flush()


@pytest.mark.usefixtures("redis_url")
async def test_with_redis_events_this_process_delivered_are_not_sent_again_when_redis_fails(monkeypatch, caplog):
    layer = get_channel_layer()
    [alice_tab] = await tabs_in(layer, user_group(92))

    async def redis_down(publishes):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(layer._get_layer()._shards[0], "publish_pairs", redis_down)
    await apublish_many(frames=[([92], "typing", {"n": 1}), ([92], "typing", {"n": 2})])
    assert [json.loads((await first_of(layer, alice_tab))["text"])["data"] for _ in range(2)] == [{"n": 1}, {"n": 2}]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(alice_tab), 0.2)
    assert "reached this process's sockets but no other process (events: 2)" in caplog.text


@pytest.mark.usefixtures("redis_url")
async def test_with_redis_and_encryption_every_message_comes_back_through_redis_once():
    layer = RedisPubSubChannelLayer(**django_settings.CHANNEL_LAYERS["default"]["CONFIG"], symmetric_encryption_keys=["k"])
    try:
        [alice_tab] = await tabs_in(layer, user_group(93))
        assert layer._get_layer()._echo is None  # its bytes are hidden: nothing is delivered ahead of Redis
        event = {"type": EVENT_FRAME, "text": "sealed"}
        await layer.group_send(user_group(93), event)
        assert await first_of(layer, alice_tab) == event
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(layer.receive(alice_tab), 0.2)
    finally:
        await layer.flush()


async def test_a_batch_of_events_reaches_each_member_in_the_order_it_was_queued():
    layer = get_channel_layer()
    alice_tab, bob_tab = await layer.new_channel(), await layer.new_channel()
    await layer.group_add_many([user_group(71)], alice_tab)
    await layer.group_add_many([user_group(72)], bob_tab)
    first, second, third = ({"type": EVENT_FRAME, "text": text} for text in ("first", "second", "third"))
    await layer.group_send_batch([
        ([user_group(71), user_group(72)], first),
        ([user_group(71)], second),
        (many_groups(71), third),  # a multicast on Redis
    ])
    after = {"type": EVENT_FRAME, "text": "after"}
    await layer.group_send(user_group(72), after)
    assert [await first_of(layer, alice_tab) for _ in range(3)] == [first, second, third]
    assert [await first_of(layer, bob_tab) for _ in range(2)] == [first, after]  # not the ones for alice only


@pytest.mark.usefixtures("redis_url")
async def test_with_redis_a_batch_of_events_is_one_round_trip_in_the_order_it_was_queued(monkeypatch):
    layer = get_channel_layer()
    alice_tab, bob_tab = await layer.new_channel(), await layer.new_channel()
    await layer.group_add_many([user_group(81)], alice_tab)
    await layer.group_add_many([user_group(82)], bob_tab)
    shard = layer._get_layer()._shards[0]
    round_trips = []
    real_publish_pairs = shard.publish_pairs

    async def counting_publish_pairs(publishes):
        round_trips.append(len(publishes))
        await real_publish_pairs(publishes)

    monkeypatch.setattr(shard, "publish_pairs", counting_publish_pairs)
    first, second, third = ({"type": EVENT_FRAME, "text": text} for text in ("first", "second", "third"))
    await layer.group_send_batch([
        ([user_group(81), user_group(82)], first),
        ([user_group(81)], second),
        (many_groups(81), third),  # a multicast among them
    ])
    assert round_trips == [4]
    assert [await first_of(layer, alice_tab) for _ in range(3)] == [first, second, third]
    assert await first_of(layer, bob_tab) == first


async def test_in_process_a_batch_for_a_full_channel_is_logged_and_still_reaches_the_others(caplog):
    layer = InProcessChannelLayer(capacity=2)
    alice_tab, bob_tab = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(user_group(91), alice_tab)
    await layer.group_add(user_group(92), bob_tab)
    waiting = {"type": EVENT_FRAME, "text": "waiting"}
    await layer.send(alice_tab, waiting)  # alice's tab is slow: one message already waits
    first, second = ({"type": EVENT_FRAME, "text": text} for text in ("first", "second"))
    await layer.group_send_batch([([user_group(91), user_group(92)], first), ([user_group(91), user_group(92)], second)])
    assert f"group messages not delivered to {alice_tab}: 1" in caplog.text
    assert [await first_of(layer, alice_tab) for _ in range(2)] == [waiting, first]
    assert [await first_of(layer, bob_tab) for _ in range(2)] == [first, second]


async def test_in_process_an_invalid_group_name_fails_the_send_before_any_member_gets_it():
    layer = InProcessChannelLayer()
    alice_tab = await layer.new_channel()
    await layer.group_add(user_group(93), alice_tab)
    with pytest.raises(TypeError):
        await layer.group_send_many([user_group(93), "not a group name!"], {"type": EVENT_FRAME, "text": "lost"})
    with pytest.raises(TypeError):
        await layer.group_send("x" * 200, {"type": EVENT_FRAME, "text": "lost"})  # too long: Channels' limit is 100
    after = {"type": EVENT_FRAME, "text": "after"}
    await layer.group_send(user_group(93), after)
    assert await first_of(layer, alice_tab) == after


@pytest.fixture
def names_checked(monkeypatch) -> tuple[InProcessChannelLayer, list[str]]:
    """An in-process layer, and the group names it checks with Channels' check, in order."""
    layer = InProcessChannelLayer()
    checked: list[str] = []
    channels_check = layer.require_valid_group_name

    def recording_check(name: str) -> None:
        checked.append(name)
        channels_check(name)

    monkeypatch.setattr(layer, "require_valid_group_name", recording_check)
    return layer, checked


async def test_in_process_the_name_of_a_group_without_members_is_checked_once(names_checked):
    # A presence announcement names the groups of every watcher, connected or not.
    layer, checked = names_checked
    for _ in range(3):
        await layer.group_send_many([user_group(94), user_group(95)], {"type": EVENT_FRAME, "text": "nobody here"})
    assert checked == [user_group(94), user_group(95)]


async def test_in_process_the_names_remembered_as_checked_are_bounded(names_checked, monkeypatch):
    monkeypatch.setattr("realtime.layers.CHECKED_NAMES", 2)
    layer, checked = names_checked
    for user_id in (96, 97, 98, 96):
        await layer.group_send(user_group(user_id), {"type": EVENT_FRAME, "text": "nobody here"})
    assert checked == [user_group(96), user_group(97), user_group(98), user_group(96)]  # forgotten when full, checked again


@pytest.mark.usefixtures("redis_url")
async def test_a_receive_cancelled_while_subscribing_ends_even_when_the_cancel_was_swallowed(monkeypatch):
    layer = get_channel_layer()
    alice_tab = await layer.new_channel()
    shard = layer._get_layer()._get_shard(alice_tab)
    real_subscribe_many, started = shard.subscribe_many, asyncio.Event()

    async def swallowing_subscribe_many(channels):
        started.set()
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            pass  # as a library racing its own timeout can
        await real_subscribe_many(channels)

    monkeypatch.setattr(shard, "subscribe_many", swallowing_subscribe_many)
    receiving = asyncio.ensure_future(layer.receive(alice_tab))
    await asyncio.wait_for(started.wait(), 5)
    receiving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(receiving, 5)  # before the fix: a TimeoutError, the receive waiting for ever


async def test_a_message_sent_to_a_fresh_channel_of_this_process_is_received():
    layer = get_channel_layer()
    channel = await layer.new_channel("readyz.")
    await layer.send(channel, {"type": "readyz.ping"})
    assert await first_of(layer, channel) == {"type": "readyz.ping"}


async def caught_up(layer, member: str, group: str) -> None:
    """Wait until what was published so far has reached this process (a marker sent last has come: one sender's messages keep their order)."""
    await layer.group_send(group, {"type": EVENT_FRAME, "text": "marker"})
    assert await asyncio.wait_for(layer.receive(member), 5) == {"type": EVENT_FRAME, "text": "marker"}


def taking_only(count: float, into: list):
    """Return a direct receiver that takes the first `count` messages of each hand-over (then it is busy), recording them."""
    def receiver(messages) -> int:
        into.append(list(messages))
        return int(min(count, len(messages)))
    return receiver


def taking(into: list):
    """Return a direct receiver that takes every message, recording each hand-over's messages."""
    return taking_only(float("inf"), into)


def declining(into: list):
    """Return a direct receiver that declines every message (busy), recording each offer's messages."""
    return taking_only(0, into)


async def tabs_in(layer, *groups: str) -> list[str]:
    """Return a new channel of this process for each group, joined to it (alice's tab, bob's tab, ...)."""
    channels = []
    for group in groups:
        channel = await layer.new_channel()
        await layer.group_add_many([group], channel)
        channels.append(channel)
    return channels


async def test_an_idle_channels_messages_go_to_its_direct_receiver_instead_of_its_queue():
    layer = get_channel_layer()
    alice_tab, bob_tab = await layer.new_channel(), await layer.new_channel()
    await layer.group_add_many([user_group(71)], alice_tab)
    await layer.group_add_many([user_group(71), user_group(72)], bob_tab)
    taken = []
    layer.receive_directly(alice_tab, taking(taken))
    first, second = ({"type": EVENT_FRAME, "text": text} for text in ("first", "second"))
    await layer.group_send(user_group(71), first)
    await layer.group_send_many(many_groups(71), second)  # a multicast too
    assert [await first_of(layer, bob_tab) for _ in range(2)] == [first, second]  # bob has no receiver: queued
    await caught_up(layer, bob_tab, user_group(72))
    assert taken == [[first], [second]]
    layer.receive_directly(alice_tab, None)
    await layer.group_send(user_group(71), first)
    assert await first_of(layer, alice_tab) == first  # no receiver any more: queued again


async def test_a_message_declined_by_the_direct_receiver_is_queued_and_so_is_every_one_behind_it():
    layer = get_channel_layer()
    alice_tab, bob_tab = await tabs_in(layer, user_group(73), user_group(74))
    offered = []
    layer.receive_directly(alice_tab, declining(offered))
    first, second = ({"type": EVENT_FRAME, "text": text} for text in ("first", "second"))
    await layer.group_send(user_group(73), first)
    await layer.group_send(user_group(73), second)
    await caught_up(layer, bob_tab, user_group(74))
    assert offered == [[first]]  # the second came behind a queued one: offering it would pass it
    assert [await first_of(layer, alice_tab) for _ in range(2)] == [first, second]


@pytest.mark.parametrize("addressed", [[user_group(75)], many_groups(75)], ids=["to the group", "as a multicast"])
async def test_a_batchs_messages_for_one_idle_channel_reach_its_receiver_in_one_hand_over_in_order(addressed):
    layer = get_channel_layer()
    alice_tab, bob_tab = await tabs_in(layer, user_group(75), user_group(76))
    taken = []
    layer.receive_directly(alice_tab, taking(taken))
    first, second, third = ({"type": EVENT_FRAME, "text": text} for text in ("first", "second", "third"))
    await layer.group_send_batch([(addressed, first), (addressed, second), (addressed, third)])
    await caught_up(layer, bob_tab, user_group(76))
    assert taken == [[first, second, third]]  # a presence tick's frames: one call, one write


async def test_what_the_direct_receiver_leaves_of_a_hand_over_is_queued_in_order():
    layer = get_channel_layer()
    alice_tab, bob_tab = await tabs_in(layer, user_group(77), user_group(78))
    offered = []
    layer.receive_directly(alice_tab, taking_only(1, offered))
    first, second, third = ({"type": EVENT_FRAME, "text": text} for text in ("first", "second", "third"))
    await layer.group_send_batch([(many_groups(77), first), (many_groups(77), second), (many_groups(77), third)])
    await caught_up(layer, bob_tab, user_group(78))
    assert offered == [[first, second, third]]
    assert [await first_of(layer, alice_tab) for _ in range(2)] == [second, third]


@pytest.mark.usefixtures("redis_url")
async def test_a_multicast_in_the_single_form_of_the_release_before_is_still_delivered():
    layer = get_channel_layer()
    loop_layer = layer._get_layer()
    [alice_tab] = await tabs_in(layer, user_group(79))
    message = {"type": EVENT_FRAME, "text": "from an older process"}
    names = [loop_layer._get_group_channel_name(group) for group in many_groups(79)]
    payload = layer.serialize({"groups": names, "message": message})
    await loop_layer._get_shard(loop_layer.multicast_channel).publish(loop_layer.multicast_channel, payload)
    assert await first_of(layer, alice_tab) == message


@pytest.mark.usefixtures("redis_url")
async def test_a_lone_multicast_keeps_the_single_form_and_a_run_of_them_is_one_publish(monkeypatch):
    layer = get_channel_layer()
    loop_layer = layer._get_layer()
    [alice_tab] = await tabs_in(layer, user_group(80))
    shard = loop_layer._get_shard(loop_layer.multicast_channel)
    published: list[list[tuple[str, bytes]]] = []
    real = shard.publish_pairs

    async def recording(publishes):
        published.append(list(publishes))
        await real(publishes)

    monkeypatch.setattr(shard, "publish_pairs", recording)
    first, second = ({"type": EVENT_FRAME, "text": text} for text in ("first", "second"))
    await layer.group_send_batch([(many_groups(80), first)])
    await layer.group_send_batch([(many_groups(80), first), (many_groups(80), second)])
    envelopes = [loop_layer.decode(payload) for publishes in published for _, payload in publishes]
    assert [sorted(envelope) for envelope in envelopes] == [["groups", "message"], ["batch"]]
    assert [message for _, message in envelopes[1]["batch"]] == [first, second]
    assert [await first_of(layer, alice_tab) for _ in range(3)] == [first, first, second]


async def test_a_group_message_between_multicasts_keeps_its_place():
    layer = get_channel_layer()
    [alice_tab] = await tabs_in(layer, user_group(81))
    first, between, last = ({"type": EVENT_FRAME, "text": text} for text in ("first", "between", "last"))
    await layer.group_send_batch([(many_groups(81), first), ([user_group(81)], between), (many_groups(81), last)])
    assert [await first_of(layer, alice_tab) for _ in range(3)] == [first, between, last]


async def receiving_on(layer, count: int) -> list[tuple[str, asyncio.Task]]:
    """Return `count` subscribed channels of this process, each with a receive waiting on it."""
    channels = [await layer.new_channel() for _ in range(count)]
    for channel in channels:
        await layer.group_add_many([], channel)
    receiving = [(channel, asyncio.ensure_future(layer.receive(channel))) for channel in channels]
    await asyncio.sleep(0)  # one step each: every receive now waits on its channel's queue
    return receiving


@pytest.mark.usefixtures("redis_url")
async def test_sockets_that_stop_receiving_together_are_unsubscribed_in_a_few_commands(monkeypatch):
    layer = get_channel_layer()
    receiving = await receiving_on(layer, 200)
    shard = layer._get_layer()._shards[0]
    unsubscribes = commands_sent(monkeypatch, shard, "unsubscribe")
    for _, task in receiving:
        task.cancel()
    await asyncio.wait_for(asyncio.gather(*(task for _, task in receiving), return_exceptions=True), 5)
    await asyncio.wait_for(shard.unsubscribe_many([]), 5)
    assert sorted(name for command in unsubscribes for name in command) == sorted(channel for channel, _ in receiving)
    assert len(unsubscribes) <= 2  # the first on its own, then everything queued behind it
    assert not {channel for channel, _ in receiving} & shard._subscribed_to


@pytest.mark.usefixtures("redis_url")
async def test_a_receive_cancelled_while_the_shard_is_busy_ends_at_once_and_logs_no_error(caplog):
    layer = get_channel_layer()
    [(alice_tab, receiving)] = await receiving_on(layer, 1)
    shard = layer._get_layer()._get_shard(alice_tab)
    async with shard._lock:  # another socket's subscribe in flight
        receiving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(receiving, 5)  # before: waited for the lock, then logged its second cancel
    await asyncio.wait_for(shard.unsubscribe_many([]), 5)
    assert alice_tab not in shard._subscribed_to
    assert [record for record in caplog.records if record.levelname == "ERROR"] == []
