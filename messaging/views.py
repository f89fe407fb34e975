"""Server-rendered messaging pages: the inbox and a conversation (their data comes from the REST API and /ws/)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from messaging import selectors


@login_required
def inbox_view(request):
    """Show the user's conversations and a way to start one."""
    return render(request, "messaging/inbox.html")


@login_required
def conversation_view(request, conversation_id: int):
    """Show one conversation of the user: its history, live messages and the send box."""
    memberships = selectors.user_conversations(user=request.user)
    membership = next((found for found in memberships if found.conversation_id == conversation_id), None)
    if membership is None:
        raise Http404("No such conversation.")
    conversation = membership.conversation
    # Where the client's `sync` starts when this conversation has no message yet.
    latest_message_id = max((found.conversation.last_message_id or 0 for found in memberships), default=0)
    others = [
        {"id": member.user_id, "username": member.user.get_username(), "last_read_id": member.last_read_id}
        for member in conversation.active_memberships
        if member.user_id != request.user.pk
    ]
    title = conversation.title or ", ".join(person["username"] for person in others) or "Just you"
    return render(
        request,
        "messaging/conversation.html",
        {
            "conversation_id": conversation.pk,
            "title": title,
            "others": others,
            "max_length": settings.DEDWEN_MESSAGE_MAX_LENGTH,
            "latest_message_id": latest_message_id,
        },
    )
