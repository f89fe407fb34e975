"""A user's unread notification count, kept beside the notifications: every way they change keeps it equal to a count."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from messaging import selectors, services
from messaging.models import Notification, UnreadNotifications
from messaging.protocol import MessagingServerFrame
from tests.support.messaging import send

pytestmark = pytest.mark.django_db


def kept(user) -> int:
    """Return the user's kept count, after checking it against a count of their unread notifications."""
    row = UnreadNotifications.objects.filter(user_id=user.pk).first()
    value = row.count if row is not None else 0
    assert value == selectors.unread_notification_count(user=user)
    return value


def test_notifications_add_to_the_count_and_marking_them_read_takes_them_off(alice, bob, alice_bob, broadcasts):
    assert kept(bob) == 1  # alice opened the conversation
    with broadcasts() as sent:
        send(alice, alice_bob, "one")
        send(alice, alice_bob, "two")
    assert [frame["data"]["unread_count"] for frame in sent.frames() if frame["type"] == MessagingServerFrame.NOTIFICATION] == [2, 3]
    assert kept(bob) == 3
    first = Notification.objects.filter(user=bob).order_by("id").first()
    assert services.mark_notifications_read(user=bob, ids=[first.pk]) == 1
    assert services.mark_notifications_read(user=bob, ids=[first.pk]) == 0  # already read: nothing comes off twice
    assert kept(bob) == 2
    assert services.mark_notifications_read(user=bob) == 2
    assert kept(bob) == 0
    with broadcasts() as sent:
        send(alice, alice_bob, "three")
    assert [frame["data"]["unread_count"] for frame in sent.frames() if frame["type"] == MessagingServerFrame.NOTIFICATION] == [1]
    assert kept(alice) == 0


def test_changes_made_in_the_admin_are_recounted(admin_client, alice, bob, carol, alice_bob):
    send(alice, alice_bob, "one")
    notes = list(Notification.objects.filter(user=bob).order_by("id"))
    admin_client.post(f"/admin/messaging/notification/{notes[0].pk}/delete/", {"post": "yes"})
    assert kept(bob) == 1
    admin_client.post(
        "/admin/messaging/notification/", {"action": "delete_selected", "_selected_action": [notes[1].pk], "post": "yes"}
    )
    assert kept(bob) == 0
    (moved,) = services.notify_users(user_ids=[bob.pk], kind="k", text="to carol")
    response = admin_client.post(
        f"/admin/messaging/notification/{moved.pk}/change/",
        {"user": carol.pk, "kind": "k", "text": "to carol", "data": "{}", "created_at_0": "2026-01-01", "created_at_1": "10:00:00", "read_at_0": "", "read_at_1": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert (kept(bob), kept(carol)) == (0, 1)


def test_the_migration_starts_each_count_at_the_users_unread_notifications(alice, bob, carol, alice_bob):
    send(alice, alice_bob, "one")
    services.notify_users(user_ids=[carol.pk], kind="k", text="t")
    services.mark_notifications_read(user=carol)
    UnreadNotifications.objects.all().delete()
    migration = importlib.import_module("messaging.migrations.0002_unread_notifications")
    migration.count_unread(apps, SimpleNamespace(connection=connection))
    assert (kept(alice), kept(bob), kept(carol)) == (0, 2, 0)
