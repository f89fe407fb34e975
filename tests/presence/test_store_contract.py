"""The presence store contract: every store (in-process and Redis) passes these."""

from __future__ import annotations

import asyncio

import pytest

from presence.stores import Status

ALICE, BOB = 101, 102


async def test_a_users_first_socket_makes_them_online(make_store):
    store = make_store()

    assert await store.open(user_id=ALICE, socket_id="a1") is Status.ONLINE

    assert await store.online(user_ids=[ALICE, BOB]) == {ALICE}


async def test_a_second_socket_of_the_same_user_is_no_transition(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")

    assert await store.open(user_id=ALICE, socket_id="a2") is None
    assert await store.open(user_id=ALICE, socket_id="a2") is None  # the same socket again: idempotent


async def test_only_the_last_socket_closing_makes_the_user_offline(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")
    await store.open(user_id=ALICE, socket_id="a2")

    assert await store.close(user_id=ALICE, socket_id="a1") is None
    assert await store.online(user_ids=[ALICE]) == {ALICE}
    assert await store.close(user_id=ALICE, socket_id="a2") is Status.OFFLINE
    assert await store.online(user_ids=[ALICE]) == set()


async def test_closing_an_unknown_or_closed_socket_changes_nothing(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")

    assert await store.close(user_id=ALICE, socket_id="nope") is None
    assert await store.close(user_id=BOB, socket_id="a1") is None
    assert await store.online(user_ids=[ALICE]) == {ALICE}
    assert await store.close(user_id=ALICE, socket_id="a1") is Status.OFFLINE
    assert await store.close(user_id=ALICE, socket_id="a1") is None


async def test_users_are_counted_apart(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")

    assert await store.open(user_id=BOB, socket_id="b1") is Status.ONLINE
    assert await store.close(user_id=ALICE, socket_id="a1") is Status.OFFLINE
    assert await store.online(user_ids=[ALICE, BOB]) == {BOB}


async def test_concurrent_opens_and_closes_make_exactly_one_transition_each_way(make_store):
    store = make_store()
    sockets = [f"a{n}" for n in range(50)]

    opened = await asyncio.gather(*(store.open(user_id=ALICE, socket_id=s) for s in sockets))
    closed = await asyncio.gather(*(store.close(user_id=ALICE, socket_id=s) for s in sockets))

    assert opened.count(Status.ONLINE) == 1
    assert closed.count(Status.OFFLINE) == 1
    assert await store.online(user_ids=[ALICE]) == set()


async def test_maintenance_of_a_healthy_store_changes_nothing(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")

    changes = await store.maintain()

    assert not changes
    assert await store.online(user_ids=[ALICE]) == {ALICE}


async def test_shutdown_unregisters_every_socket_and_names_who_went_offline(make_store):
    store = make_store()
    await store.open(user_id=ALICE, socket_id="a1")
    await store.open(user_id=ALICE, socket_id="a2")
    await store.open(user_id=BOB, socket_id="b1")

    assert (await store.shutdown()).offline == {ALICE, BOB}
    assert await store.online(user_ids=[ALICE, BOB]) == set()


@pytest.mark.parametrize("rounds", [20])
async def test_no_transition_is_lost_when_a_user_flaps(make_store, rounds):
    store = make_store()
    transitions = []

    for n in range(rounds):
        transitions.append(await store.open(user_id=ALICE, socket_id=f"a{n}"))
        transitions.append(await store.close(user_id=ALICE, socket_id=f"a{n}"))

    assert transitions == [Status.ONLINE, Status.OFFLINE] * rounds
