"""Server-rendered messaging pages: the inbox and a conversation (their data comes from the REST API and /ws/)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from messaging import selectors
from messaging.serializers import MessageSerializer

HISTORY_WINDOW = 50  # messages the page starts with; "Load earlier messages" asks the API for the ones before


@login_required
def inbox_view(request):
    """Show the user's conversations and a way to start one."""
    return render(request, "messaging/inbox.html")


@login_required
def conversation_view(request, conversation_id: int):
    """Show one conversation of the user: its newest messages (older ones on demand), live ones and the send box."""
    try:
        membership = selectors.user_conversation(user=request.user, conversation_id=conversation_id)
    except selectors.ConversationNotFound as exc:
        raise Http404(exc.message) from None
    conversation = membership.conversation
    messages = selectors.conversation_messages(conversation=conversation, limit=HISTORY_WINDOW)
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
            "kind": conversation.kind,
            "title": title,
            "others": others,
            "max_length": settings.DEDWEN_MESSAGE_MAX_LENGTH,
            # Where the client's `sync` starts when this conversation has no message yet.
            "latest_message_id": selectors.latest_message_id(user=request.user),
            "messages": MessageSerializer(messages, many=True).data,
            "history_window": HISTORY_WINDOW,
        },
    )
