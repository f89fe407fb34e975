"""The channel layer the settings choose, and how it behaves under the sockets' use of it."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer
from redis.asyncio import BlockingConnectionPool

from realtime.layers import InProcessChannelLayer, RedisPubSubChannelLayer
from realtime.protocol import EVENT_FRAME, user_group


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
