"""The web UI in a real browser (headless Chromium) against a real daphne: two people chatting live."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from tests.support.browser import LOG_AUTHENTICATED, LOG_SENDING, off_loop
from tests.support.cast import PASSWORD
from tests.support.messaging import direct, send

pytestmark = pytest.mark.browser

XSS_NAME = "<img src=x onerror=window.__xss=1>"
XSS_BODY = 'hi <b>bob</b> <img src=x onerror="window.__xss=2"><script>window.__xss=3</script>'


def bell_count(person) -> int:
    return int(person.page.get_attribute("#bell-count", "data-count"))


def message_texts(person) -> list[str]:
    return person.page.locator("#messages .message .body").all_text_contents()


def test_two_people_chat_live_in_their_browsers(web, alice, bob, carol, screenshot_dir):
    off_loop(lambda: send(carol, direct(carol, alice), "Are we still on for Friday?"))
    server = web.server()

    a = web.log_in(server, alice)
    b = web.log_in(server, bob)
    assert a.stored_token() and b.stored_token()
    assert a.logged(LOG_SENDING) == 1 and a.logged(LOG_AUTHENTICATED) == 1
    a.wait_for_state("connected")

    # Alice finds bob and starts a conversation with him.
    a.page.get_by_label("Find a person by username").fill("bo")
    a.page.get_by_role("button", name="Start a conversation with bob").click()
    a.page.wait_for_url(re.compile(r"/conversations/\d+/$"))
    a.wait_for_log(LOG_AUTHENTICATED, count=2)
    bell_before = bell_count(b)

    # What she sends appears in bob's inbox without a reload, unread, and his bell counts it.
    a.page.get_by_label("Message", exact=True).fill("Hi bob! Lunch today?")
    a.page.keyboard.press("Enter")
    a.page.locator("#messages .message.mine[data-id]").wait_for()
    b.page.locator("#conversation-list .badge.unread[data-count='1']").wait_for()
    b.wait_until(lambda: bell_count(b) > bell_before, what="the bell count going up")

    # Bob opens it and types: alice sees it; he sends: she gets it live, and her message shows as seen.
    b.page.locator("#conversation-list a").first.click()
    b.page.locator("#messages .message.theirs").wait_for()
    b.wait_for_log(LOG_AUTHENTICATED, count=2)  # the history is in the page at once; typing needs the socket
    b.page.get_by_label("Message", exact=True).fill("Sure, 12:30 at the usual place?")
    a.page.get_by_text("bob is typing…").wait_for()
    b.page.keyboard.press("Enter")
    a.page.locator("#messages .message.theirs").wait_for()
    assert message_texts(a) == ["Hi bob! Lunch today?", "Sure, 12:30 at the usual place?"]
    a.page.locator("#messages .message.mine .seen", has_text="Seen").wait_for()
    a.page.get_by_text("bob is typing…").wait_for(state="hidden")
    a.page.locator("#send-body").blur()
    a.page.screenshot(path=str(screenshot_dir / "conversation.png"))

    # Empty messages are refused in the page, before anything is sent.
    a.page.get_by_label("Message", exact=True).fill("   ")
    a.page.get_by_role("button", name="Send").click()
    a.page.get_by_text("Write a message first.").wait_for()
    assert a.page.locator("#messages .message").count() == 2

    # In the inbox bob shows online; when he closes his page, offline.
    a.open("/")
    a.page.locator(f"#conversation-list [data-presence-user='{bob.pk}'][data-status='online']").wait_for()
    a.page.screenshot(path=str(screenshot_dir / "inbox.png"))
    b.page.close()
    a.page.locator(f"#conversation-list [data-presence-user='{bob.pk}'][data-status='offline']").wait_for()

    # Names and messages with HTML in them are shown as written, never run.
    mallory = off_loop(get_user_model().objects.create_user, username=XSS_NAME, password=PASSWORD)
    with_mallory = off_loop(direct, mallory, alice)
    off_loop(send, mallory, with_mallory, XSS_BODY)
    a.open("/")
    a.page.get_by_text(XSS_NAME, exact=True).wait_for()
    assert a.page.locator("#conversation-list img, #conversation-list script").count() == 0
    a.open(f"/conversations/{with_mallory.pk}/")
    a.page.locator("#messages .message.theirs").wait_for()
    assert message_texts(a) == [XSS_BODY]
    assert a.page.locator(".conversation b, .conversation img, .conversation script").count() == 0

    assert a.page.evaluate("() => window.__xss") is None
    assert a.page_errors == [] and b.page_errors == []


def test_long_histories_come_a_page_at_a_time_and_a_group_can_be_left(web, alice, bob, carol):
    from messaging import services

    def prepare():
        groups = [
            services.create_conversation(creator=bob, participant_ids=[alice.pk, carol.pk], title=f"g{n}").conversation
            for n in range(55)
        ]
        for n in range(60):
            send(bob, groups[-1], f"m{n}")
        return groups[-1]

    busy = off_loop(prepare)
    server = web.server()
    a = web.log_in(server, alice)

    # The inbox shows the newest 50 conversations and the rest on demand.
    a.page.locator("#conversation-list li").nth(49).wait_for()
    assert a.page.locator("#conversation-list li").count() == 50
    a.page.get_by_role("button", name="Show older conversations").click()
    a.page.locator("#conversation-list li").nth(54).wait_for()
    a.page.get_by_role("button", name="Show older conversations").wait_for(state="hidden")

    # The bell too (55 + 60 notifications).
    a.page.locator("#bell-button").click()
    a.page.locator("#bell-list li").nth(49).wait_for()
    assert a.page.locator("#bell-list li").count() == 50
    a.page.get_by_role("button", name="Show older notifications").click()
    a.page.locator("#bell-list li").nth(99).wait_for()
    a.page.keyboard.press("Escape")

    # A conversation starts with its newest 50 messages; earlier ones load on demand.
    a.open(f"/conversations/{busy.pk}/")
    a.page.locator("#messages .message").nth(49).wait_for()
    assert message_texts(a) == [f"m{n}" for n in range(10, 60)]
    a.page.get_by_role("button", name="Load earlier messages").click()
    a.page.get_by_text("This is the beginning of the conversation.").wait_for()
    assert message_texts(a) == [f"m{n}" for n in range(60)]

    # Leaving the group takes alice back to her inbox, without it.
    a.page.once("dialog", lambda dialog: dialog.accept())
    a.page.get_by_role("button", name="Leave group").click()
    a.page.wait_for_url(re.compile(r"/$"))
    a.page.locator("#conversation-list li").nth(49).wait_for()
    assert a.page.locator(f"#conversation-list [data-conversation-id='{busy.pk}']").count() == 0
    assert a.page_errors == []
