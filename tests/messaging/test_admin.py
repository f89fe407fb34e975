"""The admin lists and shows conversations, messages and notifications."""

import pytest

from tests.support.messaging import send


@pytest.mark.parametrize("model", ["conversation", "message", "notification"])
def test_the_admin_lists_and_opens_each_messaging_model(admin_client, alice, bob, alice_bob, model):
    message = send(alice, alice_bob, "hello admin")
    listing = admin_client.get(f"/admin/messaging/{model}/")
    assert listing.status_code == 200
    pk = {"conversation": alice_bob.pk, "message": message.pk, "notification": bob.notifications.first().pk}[model]
    assert admin_client.get(f"/admin/messaging/{model}/{pk}/change/").status_code == 200


def test_the_admin_finds_messages_by_text(admin_client, alice, alice_bob):
    send(alice, alice_bob, "needle in the haystack")
    send(alice, alice_bob, "something else")
    page = admin_client.get("/admin/messaging/message/", {"q": "needle"}).content.decode()
    assert "needle in the haystack" in page and "something else" not in page
