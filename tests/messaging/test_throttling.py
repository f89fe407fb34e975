"""REST write throttles (docs/protocol.md, section 2): per-user budgets of new conversations and messages."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from django.core.cache import cache
from django.test import override_settings

from messaging.models import Conversation, Message

pytestmark = pytest.mark.django_db


def post_message(client, conversation, n: int):
    return client.post(
        f"/api/conversations/{conversation.pk}/messages/", {"body": f"m{n}", "client_id": f"t-{n}"}, format="json"
    )


def assert_throttled(response) -> None:
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    error = response.json()["error"]
    assert error["code"] == "throttled" and error["message"]


@override_settings(DEDWEN_THROTTLE_MESSAGES="3/min")
def test_posting_past_the_message_budget_is_429_json_with_retry_after_and_stores_nothing(alice, bob, alice_bob, api):
    alice_client = api(alice)
    assert [post_message(alice_client, alice_bob, n).status_code for n in range(3)] == [201, 201, 201]

    refused = post_message(alice_client, alice_bob, 3)
    assert_throttled(refused)
    assert 0 < int(refused["Retry-After"]) <= 60
    assert Message.objects.count() == 3

    # Only alice's writes: bob still posts, and alice still reads.
    assert post_message(api(bob), alice_bob, 4).status_code == 201
    assert alice_client.get(f"/api/conversations/{alice_bob.pk}/messages/").status_code == 200


@override_settings(DEDWEN_THROTTLE_CONVERSATIONS="2/hour")
def test_creating_past_the_conversation_budget_is_429_and_other_users_are_not_affected(alice, bob, carol, api):
    def open_group(user, n):
        others = [person.pk for person in (alice, bob, carol) if person != user]
        return api(user).post("/api/conversations/", {"participants": others, "title": f"g{n}"}, format="json")

    assert [open_group(alice, n).status_code for n in range(2)] == [201, 201]
    refused = open_group(alice, 2)
    assert_throttled(refused)
    assert 60 < int(refused["Retry-After"]) <= 3600
    assert open_group(bob, 3).status_code == 201
    assert api(alice).get("/api/conversations/").status_code == 200
    assert Conversation.objects.count() == 3


def test_the_default_budgets_let_a_person_typing_fast_post_a_message_a_second_for_two_minutes(
    alice, alice_bob, api, settings
):
    assert settings.DEDWEN_THROTTLE_MESSAGES == "120/min" and settings.DEDWEN_THROTTLE_CONVERSATIONS == "60/hour"
    client = api(alice)
    assert all(post_message(client, alice_bob, n).status_code == 201 for n in range(120))
    assert_throttled(post_message(client, alice_bob, 120))


def test_the_counters_live_in_redis_when_redis_is_configured(settings, redis_url):
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    cache.set("probe", 1)
    assert cache.get("probe") == 1


def test_two_processes_share_one_budget(redis_url, daphne_server, alice, alice_bob, login):
    servers = [daphne_server(DEDWEN_THROTTLE_MESSAGES="4/min") for _ in range(2)]
    token = login(alice).token

    def post(server, n: int) -> int:
        request = urllib.request.Request(
            f"{server.http_url}/api/conversations/{alice_bob.pk}/messages/",
            data=json.dumps({"body": f"m{n}", "client_id": f"p-{n}"}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            assert exc.headers["Retry-After"] and json.loads(exc.read())["error"]["code"] == "throttled"
            return exc.code

    assert [post(servers[n % 2], n) for n in range(5)] == [201, 201, 201, 201, 429]
