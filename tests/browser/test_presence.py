"""Presence in the web UI (issue 14): navigation without flapping, idle, the privacy switch, last seen."""

from __future__ import annotations

import pytest

from tests.support.browser import off_loop
from tests.support.messaging import direct

pytestmark = pytest.mark.browser

WATCH = """() => {
  window.__presence = [];
  window.dedwen.client.addEventListener("presence", ({ detail }) => window.__presence.push(detail));
}"""


def events_about(person, user) -> list[tuple[str, str | None]]:
    """Return the (status, last_seen) of every `presence` event the page got about the user since it started watching."""
    found = person.page.evaluate("() => window.__presence")
    return [(event["status"], event["last_seen"]) for event in found if event["user_id"] == user.pk]


def dot(person, user, status: str):
    return person.page.locator(f"#conversation-list [data-presence-user='{user.pk}'][data-status='{status}']")


def test_navigation_announces_nothing_and_idle_privacy_and_last_seen_show_live(web, alice, bob, screenshot_dir):
    conversation = off_loop(direct, alice, bob)
    server = web.server(DEDWEN_PRESENCE_GRACE="5")
    b = web.log_in(server, bob)
    a = web.log_in(server, alice)
    dot(b, alice, "online").wait_for()
    b.page.evaluate(WATCH)

    # Alice clicks around: inbox -> conversation -> inbox. Each page is a new socket; bob hears nothing.
    a.open(f"/conversations/{conversation.pk}/")
    a.open("/")
    # Then her page goes idle: the first event bob gets about her is that one, nothing before it.
    a.page.evaluate("() => window.dedwen.client.setActivity('idle')")
    dot(b, alice, "idle").wait_for()
    assert events_about(b, alice) == [("idle", None)]
    b.page.locator("#conversation-list .last-seen", has_text="idle").wait_for()
    b.page.screenshot(path=str(screenshot_dir / "idle.png"))

    # The privacy switch: bob sees her offline with no last seen at once; she still sees him.
    a.open("/accounts/devices/")  # a new page is active again: bob sees her online
    dot(b, alice, "online").wait_for()
    switch = a.page.get_by_role("switch", name="Show when I am online")
    a.wait_until(lambda: switch.is_enabled(), what="the switch loaded")
    switch.uncheck()
    a.page.get_by_text("You appear offline to everyone.").wait_for()
    dot(b, alice, "offline").wait_for()
    a.page.screenshot(path=str(screenshot_dir / "privacy.png"))
    assert events_about(b, alice)[-1] == ("offline", None)
    assert a.page.evaluate(f"() => window.dedwen.client.presence.get({bob.pk}).status") == "online"
    switch.check()
    a.page.get_by_text("Others see when you are online.").wait_for()
    dot(b, alice, "online").wait_for()

    # She leaves: after the grace bob sees her offline, "last seen" now.
    a.page.close()
    dot(b, alice, "offline").wait_for(timeout=15000)
    b.page.locator("#conversation-list .last-seen", has_text="last seen").wait_for()
    assert [status for status, _ in events_about(b, alice)] == ["idle", "online", "offline", "online", "offline"]
    assert events_about(b, alice)[-1][1] is not None
