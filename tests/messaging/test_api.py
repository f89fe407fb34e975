"""The messaging REST API (docs/protocol.md, section 2): conversations, messages, read markers, notifications."""

from __future__ import annotations

import pytest
from django.test import override_settings

from messaging.models import Conversation, Membership, Message, Notification
from messaging.protocol import MessagingServerFrame
from realtime.protocol import user_group
from tests.support.messaging import direct, send

pytestmark = pytest.mark.django_db


def frame_types(sent, user) -> list[str]:
    return [frame["type"] for frame in sent.frames(user_group(user.pk))]


# Conversations ------------------------------------------------------------------------------------


def test_opening_a_direct_conversation_answers_201_then_200_with_the_same_one(alice, bob, api):
    first = api(alice).post("/api/conversations/", {"participants": [bob.pk]}, format="json")
    assert first.status_code == 201
    body = first.json()
    assert body["kind"] == "direct"
    assert [p["username"] for p in body["participants"]] == ["alice", "bob"]
    assert body["last_message"] is None and body["unread_count"] == 0

    again = api(bob).post("/api/conversations/", {"participants": [alice.pk]}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    assert Conversation.objects.count() == 1


def test_a_titled_conversation_is_a_group_and_its_participants_are_notified(alice, bob, carol, api, broadcasts):
    with broadcasts() as sent:
        response = api(alice).post(
            "/api/conversations/", {"participants": [bob.pk, carol.pk], "title": "Plans"}, format="json"
        )
    assert response.status_code == 201
    assert response.json()["kind"] == "group" and response.json()["title"] == "Plans"
    assert frame_types(sent, bob) == [MessagingServerFrame.NOTIFICATION]
    assert frame_types(sent, carol) == [MessagingServerFrame.NOTIFICATION]
    assert frame_types(sent, alice) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"participants": []},
        {"participants": "2"},
        {"participants": ["2"]},
        {"participants": [True]},
        {"participants": [2.0]},
        {"participants": [2], "title": 5},
        {"participants": [2**70]},
    ],
)
def test_malformed_conversation_requests_are_refused_with_a_json_error(alice, bob, api, body):
    response = api(alice).post("/api/conversations/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert Conversation.objects.count() == 0


def test_unknown_users_and_oneself_alone_are_not_participants(alice, api):
    assert api(alice).post("/api/conversations/", {"participants": [alice.pk]}, format="json").status_code == 400
    response = api(alice).post("/api/conversations/", {"participants": [alice.pk + 999]}, format="json")
    assert response.status_code == 400
    assert "Unknown users" in response.json()["error"]["message"]
    assert Conversation.objects.count() == 0


def test_the_list_shows_newest_activity_first_with_last_message_and_unread_count(alice, bob, carol, api):
    with_bob = direct(alice, bob)
    with_carol = direct(alice, carol)
    send(bob, with_bob, "one")
    send(bob, with_bob, "two")
    send(carol, with_carol, "newest")
    send(alice, with_carol, "my reply")

    response = api(alice).get("/api/conversations/")
    assert response.status_code == 200
    listed = response.json()
    assert [c["id"] for c in listed] == [with_carol.pk, with_bob.pk]
    assert listed[0]["last_message"]["body"] == "my reply"
    assert listed[0]["unread_count"] == 0  # her own reply marks the conversation read
    assert listed[1]["last_message"]["body"] == "two"
    assert listed[1]["unread_count"] == 2
    assert api(carol).get("/api/conversations/").json()[0]["unread_count"] == 1  # alice's reply


def test_listing_conversations_takes_a_fixed_number_of_queries(alice, bob, carol, api, django_assert_max_num_queries):
    for other in (bob, carol):
        send(other, direct(alice, other))
    client = api(alice)
    with django_assert_max_num_queries(2):
        listed = client.get("/api/conversations/").json()
    assert len(listed) == 2


def test_the_list_hides_conversations_of_others(alice, bob, carol, api):
    direct(alice, bob)
    assert api(carol).get("/api/conversations/").json() == []


def test_anonymous_requests_are_refused(alice_bob, client):
    assert client.get("/api/conversations/").status_code in (401, 403)
    assert client.get(f"/api/conversations/{alice_bob.pk}/messages/").status_code in (401, 403)


def test_a_bearer_token_is_enough(alice, bob, login):
    session = login(alice)
    response = session.bearer().post("/api/conversations/", {"participants": [bob.pk]}, format="json")
    assert response.status_code == 201


# Messages -----------------------------------------------------------------------------------------


def test_sending_answers_201_and_publishes_to_every_participant(alice, bob, alice_bob, api, broadcasts):
    with broadcasts() as sent:
        response = api(alice).post(
            f"/api/conversations/{alice_bob.pk}/messages/", {"body": "hi bob", "client_id": "c-1"}, format="json"
        )
    assert response.status_code == 201
    message = response.json()
    assert message == {
        "id": message["id"],
        "conversation_id": alice_bob.pk,
        "sender": {"id": alice.pk, "username": "alice"},
        "body": "hi bob",
        "client_id": "c-1",
        "created_at": message["created_at"],
    }
    assert frame_types(sent, alice) == [MessagingServerFrame.MESSAGE_NEW]
    assert frame_types(sent, bob) == [MessagingServerFrame.MESSAGE_NEW, MessagingServerFrame.NOTIFICATION]
    assert sent.frames(user_group(bob.pk))[0]["data"] == {"conversation_id": alice_bob.pk, "message": message}


def test_the_same_client_id_again_answers_200_with_the_first_message_and_publishes_nothing(
    alice, alice_bob, api, broadcasts
):
    url = f"/api/conversations/{alice_bob.pk}/messages/"
    first = api(alice).post(url, {"body": "once", "client_id": "retry-me"}, format="json")
    with broadcasts() as sent:
        again = api(alice).post(url, {"body": "once", "client_id": "retry-me"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Message.objects.count() == 1
    assert sent.sent == []


def test_two_users_may_use_the_same_client_id(alice, bob, alice_bob, api):
    url = f"/api/conversations/{alice_bob.pk}/messages/"
    assert api(alice).post(url, {"body": "a", "client_id": "same"}, format="json").status_code == 201
    assert api(bob).post(url, {"body": "b", "client_id": "same"}, format="json").status_code == 201


def test_a_client_id_already_used_in_another_conversation_conflicts(alice, bob, carol, alice_bob, api):
    send(alice, alice_bob, client_id="taken")
    other = direct(alice, carol)
    response = api(alice).post(f"/api/conversations/{other.pk}/messages/", {"body": "x", "client_id": "taken"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"body": "", "client_id": "c"},
        {"body": "  \n\t ", "client_id": "c"},
        {"body": "x" * 51, "client_id": "c"},
        {"body": "hello"},
        {"body": "hello", "client_id": ""},
        {"body": "hello", "client_id": "c" * 65},
        {"body": 42, "client_id": "c"},
        {"body": "hello", "client_id": 7},
        {"body": ["hello"], "client_id": "c"},
        {"body": "nul \x00", "client_id": "c"},
    ],
)
@override_settings(DEDWEN_MESSAGE_MAX_LENGTH=50)
def test_bad_messages_are_refused_with_a_json_error_and_nothing_is_stored(alice, alice_bob, api, broadcasts, body):
    notifications = Notification.objects.count()
    with broadcasts() as sent:
        response = api(alice).post(f"/api/conversations/{alice_bob.pk}/messages/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert Message.objects.count() == 0 and Notification.objects.count() == notifications
    assert sent.sent == []


@override_settings(DEDWEN_MESSAGE_MAX_LENGTH=50)
def test_a_body_of_exactly_the_maximum_length_is_accepted(alice, alice_bob, api):
    response = api(alice).post(
        f"/api/conversations/{alice_bob.pk}/messages/", {"body": "x" * 50, "client_id": "c"}, format="json"
    )
    assert response.status_code == 201


def test_a_non_json_body_is_refused(alice, alice_bob, api):
    response = api(alice).post(f"/api/conversations/{alice_bob.pk}/messages/", "body=x", content_type="text/plain")
    assert response.status_code == 415
    assert "error" in response.json()


def test_pages_are_ascending_by_id_with_before_after_and_limit(alice, bob, alice_bob, api):
    ids = [send(alice if i % 2 else bob, alice_bob, f"m{i}").pk for i in range(6)]
    url = f"/api/conversations/{alice_bob.pk}/messages/"
    client = api(bob)

    def page(**query) -> list[int]:
        response = client.get(url, query)
        assert response.status_code == 200
        return [m["id"] for m in response.json()]

    assert page() == ids
    assert page(limit=2) == ids[-2:]
    assert page(before=ids[3], limit=2) == ids[1:3]
    assert page(after=ids[1], limit=2) == ids[2:4]
    assert page(after=ids[0], before=ids[3]) == ids[1:3]
    assert page(after=ids[-1]) == []


def test_a_page_of_messages_takes_a_fixed_number_of_queries(alice, bob, alice_bob, api, django_assert_max_num_queries):
    for n in range(5):
        send(alice if n % 2 else bob, alice_bob, f"m{n}")
    client = api(alice)
    with django_assert_max_num_queries(2):  # the access check and the page with its senders
        page = client.get(f"/api/conversations/{alice_bob.pk}/messages/").json()
    assert len(page) == 5


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 201}, {"after": "x"}, {"before": -1}])
def test_bad_page_parameters_are_refused(alice, alice_bob, api, query):
    response = api(alice).get(f"/api/conversations/{alice_bob.pk}/messages/", query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


# Authorization ------------------------------------------------------------------------------------


def test_carol_can_neither_read_nor_send_nor_mark_alice_and_bobs_conversation(alice, carol, alice_bob, api, broadcasts):
    message = send(alice, alice_bob, "private")
    base = f"/api/conversations/{alice_bob.pk}"
    client = api(carol)
    with broadcasts() as sent:
        answers = [
            client.get(f"{base}/messages/"),
            client.post(f"{base}/messages/", {"body": "let me in", "client_id": "c"}, format="json"),
            client.post(f"{base}/read/", {"message_id": message.pk}, format="json"),
        ]
    for answer in answers:
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"
    assert list(Message.objects.values_list("body", flat=True)) == ["private"]
    assert sent.sent == []


def test_unknown_conversations_look_like_foreign_ones(alice, api):
    for conversation_id in (999999, 2**63, 10**30):
        assert api(alice).get(f"/api/conversations/{conversation_id}/messages/").status_code == 404


def test_a_user_who_left_a_group_can_no_longer_send_to_it(alice, bob, carol, api):
    from messaging import services

    group = services.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title="t").conversation
    services.leave_conversation(user=carol, conversation=group)
    response = api(carol).post(f"/api/conversations/{group.pk}/messages/", {"body": "hi", "client_id": "c"}, format="json")
    assert response.status_code == 404
    assert not Message.objects.exists()


# Read markers -------------------------------------------------------------------------------------


def test_marking_read_answers_204_lowers_unread_and_tells_the_other_participant(alice, bob, alice_bob, api, broadcasts):
    first = send(alice, alice_bob, "1")
    second = send(alice, alice_bob, "2")
    with broadcasts() as sent:
        response = api(bob).post(f"/api/conversations/{alice_bob.pk}/read/", {"message_id": first.pk}, format="json")
    assert response.status_code == 204
    assert sent.frames(user_group(alice.pk)) == [
        {"type": MessagingServerFrame.MESSAGE_READ, "data": {"conversation_id": alice_bob.pk, "user_id": bob.pk, "message_id": first.pk}}
    ]
    assert frame_types(sent, bob) == []
    assert api(bob).get("/api/conversations/").json()[0]["unread_count"] == 1
    assert Membership.objects.get(conversation=alice_bob, user=bob).last_read_id == first.pk
    api(bob).post(f"/api/conversations/{alice_bob.pk}/read/", {"message_id": second.pk}, format="json")
    assert api(bob).get("/api/conversations/").json()[0]["unread_count"] == 0


def test_the_read_marker_never_moves_back(alice, bob, alice_bob, api, broadcasts):
    first = send(alice, alice_bob)
    second = send(alice, alice_bob)
    url = f"/api/conversations/{alice_bob.pk}/read/"
    api(bob).post(url, {"message_id": second.pk}, format="json")
    with broadcasts() as sent:
        assert api(bob).post(url, {"message_id": first.pk}, format="json").status_code == 204
    assert sent.sent == []
    assert Membership.objects.get(conversation=alice_bob, user=bob).last_read_id == second.pk


def test_marking_read_a_message_of_another_conversation_is_not_found(alice, bob, carol, alice_bob, api):
    elsewhere = send(carol, direct(carol, alice))
    response = api(bob).post(f"/api/conversations/{alice_bob.pk}/read/", {"message_id": elsewhere.pk}, format="json")
    assert response.status_code == 404
    bad = api(bob).post(f"/api/conversations/{alice_bob.pk}/read/", {"message_id": "1"}, format="json")
    assert bad.status_code == 400


# Notifications ------------------------------------------------------------------------------------


def test_a_new_message_notifies_the_others_with_their_live_unread_count(alice, bob, alice_bob, api, broadcasts):
    with broadcasts() as sent:
        send(alice, alice_bob, "ping")
        send(alice, alice_bob, "ping again")
    notes = [f["data"] for f in sent.frames(user_group(bob.pk)) if f["type"] == MessagingServerFrame.NOTIFICATION]
    assert [n["unread_count"] for n in notes] == [2, 3]  # the conversation's own notification came first
    assert notes[-1]["kind"] == "message"
    assert notes[-1]["text"] == "alice: ping again"
    assert set(notes[-1]) == {"id", "kind", "text", "data", "created_at", "unread_count"}
    assert not Notification.objects.filter(user=alice).exists()


def test_notifications_list_newest_first_with_the_unread_count(alice, bob, alice_bob, api):
    send(alice, alice_bob, "1")
    send(alice, alice_bob, "2")
    response = api(bob).get("/api/notifications/")
    assert response.status_code == 200
    body = response.json()
    assert body["unread_count"] == 3
    assert [n["text"] for n in body["notifications"]] == [
        "alice: 2",
        "alice: 1",
        "alice started a conversation with you.",
    ]
    assert api(alice).get("/api/notifications/").json() == {"notifications": [], "unread_count": 0}


def test_notifications_are_marked_read_by_id_or_all(alice, bob, alice_bob, api):
    send(alice, alice_bob, "1")
    send(alice, alice_bob, "2")
    client = api(bob)
    newest = client.get("/api/notifications/").json()["notifications"][0]
    assert client.post("/api/notifications/read/", {"ids": [newest["id"]]}, format="json").status_code == 204
    unread = client.get("/api/notifications/", {"unread": "1"}).json()
    assert unread["unread_count"] == 2
    assert newest["id"] not in [n["id"] for n in unread["notifications"]]
    assert client.post("/api/notifications/read/", {"all": True}, format="json").status_code == 204
    assert client.get("/api/notifications/", {"unread": "1"}).json() == {"notifications": [], "unread_count": 0}


def test_nobody_marks_another_users_notifications(alice, bob, carol, alice_bob, api):
    send(alice, alice_bob)
    ids = list(Notification.objects.filter(user=bob).values_list("pk", flat=True))
    assert api(carol).post("/api/notifications/read/", {"ids": ids}, format="json").status_code == 204
    assert api(bob).get("/api/notifications/").json()["unread_count"] == len(ids)


@pytest.mark.parametrize("body", [{}, {"all": False}, {"all": "yes"}, {"ids": "1"}, {"ids": [1], "all": True}, {"ids": ["1"]}])
def test_bad_mark_read_requests_are_refused(alice, api, body):
    response = api(alice).post("/api/notifications/read/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


# Schema -------------------------------------------------------------------------------------------


def test_the_openapi_schema_documents_the_messaging_api(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for path in (
        "/api/conversations/",
        "/api/conversations/{conversation_id}/messages/",
        "/api/conversations/{conversation_id}/read/",
        "/api/notifications/",
        "/api/notifications/read/",
    ):
        assert path in text
