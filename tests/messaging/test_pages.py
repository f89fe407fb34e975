"""Bounded lists (docs/protocol.md, "Pages"): conversations and notifications come a page at a time, newest first."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.test import Client
from django.utils import timezone

from messaging import services
from messaging.models import Conversation, Notification
from messaging.views import HISTORY_WINDOW
from tests.support.messaging import send

pytestmark = pytest.mark.django_db


def next_url(response) -> str | None:
    """Return the next page's path and query from the Link header, or None on the last page."""
    link = response.headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<http://testserver(/[^>]*)>; rel="next"', link)
    assert match, link
    return match[1]


def walk(client, url: str, key: str | None = None) -> list[list[dict]]:
    """Follow the Link headers from the first page to the last; return every page's items."""
    pages = []
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        body = response.json()
        pages.append(body[key] if key else body)
        url = next_url(response)
    return pages


def open_groups(creator, others, count: int) -> list[Conversation]:
    return [
        services.create_conversation(creator=creator, participant_ids=[o.pk for o in others], title=f"g{n}").conversation
        for n in range(count)
    ]


def test_conversations_come_in_pages_of_at_most_100_newest_activity_first_each_once(alice, bob, api):
    groups = open_groups(alice, [bob], 130)
    send(bob, groups[0], "brings the oldest group to the top")
    expected = [groups[0].pk] + [group.pk for group in reversed(groups[1:])]

    pages = walk(api(alice), "/api/conversations/?limit=100")
    assert [len(page) for page in pages] == [100, 30]
    assert [conversation["id"] for page in pages for conversation in page] == expected
    assert set(pages[0][0]) == {"id", "kind", "title", "participants", "last_message", "unread_count", "created_at"}
    assert pages[0][0]["unread_count"] == 1

    default = api(alice).get("/api/conversations/")
    assert len(default.json()) == 50 and next_url(default) is not None


def test_conversations_with_the_same_activity_time_are_walked_exactly_once(alice, bob, api):
    groups = open_groups(alice, [bob], 7)
    Conversation.objects.update(last_activity_at=timezone.now())  # every one ties
    pages = walk(api(alice), "/api/conversations/?limit=3")
    assert [len(page) for page in pages] == [3, 3, 1]
    assert sorted(conversation["id"] for page in pages for conversation in page) == sorted(g.pk for g in groups)


def test_notifications_come_in_pages_newest_first_each_once_with_the_total_unread_count(alice, bob, api):
    for n in range(120):
        services.notify_users(user_ids=[bob.pk], kind="test", text=f"n{n}")
    Notification.objects.filter(user=bob, text__in=["n0", "n1"]).update(read_at=timezone.now())
    expected = list(Notification.objects.filter(user=bob).order_by("-id").values_list("id", flat=True))

    client = api(bob)
    responses = []
    url = "/api/notifications/?limit=100"
    while url is not None:
        responses.append(client.get(url))
        url = next_url(responses[-1])
    bodies = [response.json() for response in responses]
    assert [len(body["notifications"]) for body in bodies] == [100, 20]
    assert [n["id"] for body in bodies for n in body["notifications"]] == expected
    assert [body["unread_count"] for body in bodies] == [118, 118]

    unread_pages = walk(client, "/api/notifications/?unread=1&limit=50", "notifications")
    assert [len(page) for page in unread_pages] == [50, 50, 18]


def test_a_page_is_never_more_than_100(alice, api):
    for path in ("/api/conversations/", "/api/notifications/"):
        response = api(alice).get(path, {"limit": 101})
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        base64.b64encode(b"o=1&p=not-a-date").decode(),
        base64.b64encode(b"o=-1").decode(),
        base64.b64encode(b"p=" + b"9" * 40).decode(),
        base64.b64encode(b"p=9999999999999999999").decode(),  # above the largest id
        "%00",
        "x" * 1001,
    ],
)
@pytest.mark.parametrize("path", ["/api/conversations/", "/api/notifications/"])
def test_a_cursor_that_cannot_be_read_is_a_json_400(alice, bob, api, path, cursor):
    open_groups(alice, [bob], 2)
    response = api(alice).get(path, {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid" and "cursor" in response.json()["error"]["message"]


# The conversation page ----------------------------------------------------------------------------


def rendered_messages(html: str) -> list[dict]:
    """Return the messages the page was rendered with (its `initial-messages` JSON script)."""
    found = re.findall(r'<script id="initial-messages" type="application/json">(.*?)</script>', html, re.S)
    assert len(found) == 1, "the page carries its initial messages once"
    assert html.index('id="initial-messages"') > html.index("<body"), "in the body, where scripts can read it"
    return json.loads(found[0])


def page_of(user, conversation):
    client = Client()
    client.force_login(user)
    return client.get(f"/conversations/{conversation.pk}/")


def test_the_conversation_page_renders_only_the_newest_window_and_offers_earlier_ones(alice, bob, alice_bob):
    sent = [send(bob, alice_bob, f"m{n}").pk for n in range(HISTORY_WINDOW + 70)]
    response = page_of(alice, alice_bob)
    assert response.status_code == 200
    html = response.content.decode()
    assert [message["id"] for message in rendered_messages(html)] == sent[-HISTORY_WINDOW:]
    assert f'data-history-window="{HISTORY_WINDOW}"' in html
    assert 'id="load-older"' in html and "Load earlier messages" in html
    assert 'id="leave-button"' not in html  # a direct conversation cannot be left


def test_a_group_page_has_a_leave_button_and_a_short_history_is_rendered_whole(alice, bob, carol):
    group = services.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title="trio").conversation
    sent = [send(bob, group, f"m{n}").pk for n in range(3)]
    html = page_of(alice, group).content.decode()
    assert [message["id"] for message in rendered_messages(html)] == sent
    assert 'id="leave-button"' in html


def test_the_page_of_a_group_one_left_is_404(alice, bob, carol):
    group = services.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title="trio").conversation
    services.leave_conversation(user=carol, conversation=group)
    assert page_of(carol, group).status_code == 404
