"""`manage.py seed_demo`: the demo users with a printed password, and running it again changes nothing."""

from __future__ import annotations

from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.management.commands.seed_demo import DEMO_PASSWORD


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_the_demo_users_and_prints_their_password(db):
    output = seed()

    users = {user.username: user for user in get_user_model().objects.all()}
    assert set(users) == {"alice", "bob", "carol"}
    assert all(user.check_password(DEMO_PASSWORD) for user in users.values())
    assert users["alice"].is_superuser and not users["bob"].is_staff
    assert DEMO_PASSWORD in output


def test_seed_demo_is_idempotent_and_keeps_a_changed_password(db):
    seed()
    bob = get_user_model().objects.get(username="bob")
    bob.set_password("bob changed it himself")
    bob.save()

    seed()

    assert get_user_model().objects.count() == 3
    assert get_user_model().objects.get(username="bob").check_password("bob changed it himself")


def test_with_if_debug_production_gets_no_demo_users(db, settings):
    settings.DEBUG = False
    out = StringIO()
    call_command("seed_demo", "--if-debug", stdout=out)
    assert not get_user_model().objects.exists()
    assert DEMO_PASSWORD not in out.getvalue()


def test_with_if_debug_debug_gets_the_demo_users(db, settings):
    settings.DEBUG = True
    call_command("seed_demo", "--if-debug", stdout=StringIO())
    assert set(get_user_model().objects.values_list("username", flat=True)) == {"alice", "bob", "carol"}
