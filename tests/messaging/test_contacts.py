"""contact_ids: who shares a conversation with a user (presence relies on it)."""

from messaging import services
from messaging.selectors import contact_ids
from tests.support.messaging import direct


def test_contacts_are_the_users_sharing_a_conversation_not_the_user(alice, bob, carol):
    direct(alice, bob)
    assert contact_ids(user_id=alice.pk) == {bob.pk}
    assert contact_ids(user_id=bob.pk) == {alice.pk}
    assert contact_ids(user_id=carol.pk) == set()


def test_contacts_span_groups_and_forget_who_left(alice, bob, carol):
    group = services.create_conversation(creator=alice, participant_ids=[bob.pk, carol.pk], title="trio").conversation
    assert contact_ids(user_id=carol.pk) == {alice.pk, bob.pk}
    services.leave_conversation(user=carol, conversation=group)
    assert contact_ids(user_id=carol.pk) == set()
    assert contact_ids(user_id=alice.pk) == {bob.pk}
