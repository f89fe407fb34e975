"""Create the demo users; safe to run again."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.signals import demo_users_seeded

DEMO_PASSWORD = "dedwen-demo-pass"
DEMO_USERS = [("alice", "alice@example.com", True), ("bob", "bob@example.com", False), ("carol", "carol@example.com", False)]


class Command(BaseCommand):
    help = "Create demo users alice (an admin), bob and carol, and the other apps' demo data for them. Idempotent."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--if-debug", action="store_true", help="seed only with DEDWEN_DEBUG=1 (bin/serve): production gets no demo users"
        )

    def handle(self, *args, if_debug: bool = False, **options) -> None:
        if if_debug and not settings.DEBUG:
            self.stdout.write("DEDWEN_DEBUG=0: no demo users seeded.")
            return
        self.seed()

    @transaction.atomic
    def seed(self) -> None:
        User = get_user_model()
        users = {}
        for username, email, is_admin in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username, defaults={"email": email})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.is_staff = user.is_superuser = is_admin
                user.save()
            users[username] = user
        demo_users_seeded.send(sender=self.__class__, users=users)
        self.stdout.write(
            f"Demo users: {', '.join(users)} (password: {DEMO_PASSWORD}); alice is an admin at /admin/."
        )
