"""Signals messaging sends, so that apps built on it can follow conversations without messaging knowing them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after a member's leave committed: `conversation_id`, `user_id` (who left), `member_ids` (who remain).
member_left = Signal()
