"""The one table of B-chat: every message sent, as the tutorial app would store it."""

from django.db import models


class Message(models.Model):
    """A message of a conversation (conversations and users live in the bench world, not in this database)."""

    conversation_id = models.IntegerField(db_index=True)
    sender_id = models.IntegerField()
    body = models.TextField()
    client_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
