"""The demo data: seeding twice gives the same conversations and messages."""

from django.core.management import call_command

from messaging.models import Conversation, Message


def test_seed_demo_opens_the_demo_conversations_once(db):
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    assert sorted(Conversation.objects.values_list("kind", flat=True)) == ["direct", "group"]
    assert Message.objects.count() == 5
