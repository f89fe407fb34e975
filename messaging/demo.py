"""Demo conversations for the demo users of `manage.py seed_demo`; safe to run again."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.dispatch import receiver

from accounts.signals import demo_users_seeded
from messaging import services
from messaging.models import Conversation

GROUP_TITLE = "Weekend plans"
DIRECT_MESSAGES = [
    ("alice", "Hi Bob! Did you get the new build running?"),
    ("bob", "Yes, the live updates work on both my laptop and phone."),
    ("alice", "Great. Try closing the laptop and see if it catches up afterwards."),
]
GROUP_MESSAGES = [
    ("carol", "Hiking on Saturday?"),
    ("bob", "I'm in if we start after nine."),
]


@receiver(demo_users_seeded, dispatch_uid="messaging.seed_conversations")
def seed_conversations(sender=None, *, users: dict[str, AbstractBaseUser], **kwargs) -> list[Conversation]:
    """Open a direct conversation of alice and bob and a group of all three, with a few messages each."""
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    direct = services.create_conversation(creator=alice, participant_ids=[bob.pk]).conversation
    group = Conversation.objects.filter(kind=Conversation.Kind.GROUP, title=GROUP_TITLE, created_by=alice).first()
    if group is None:
        group = services.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title=GROUP_TITLE).conversation
    for conversation, script, prefix in ((direct, DIRECT_MESSAGES, "demo-direct"), (group, GROUP_MESSAGES, "demo-group")):
        for number, (sender, body) in enumerate(script, start=1):
            services.send_message(sender=users[sender], conversation=conversation, body=body, client_id=f"{prefix}-{number}")
    return [direct, group]
