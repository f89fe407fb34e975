"""The messaging REST API: conversations, their messages and read markers, notifications."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging import selectors, services
from messaging.pagination import conversations_pagination, notifications_pagination
from messaging.serializers import (
    ConversationCreateSerializer,
    ConversationSerializer,
    ListPageSerializer,
    MessageBodySerializer,
    MessagePageSerializer,
    MessageSerializer,
    NotificationListSerializer,
    NotificationsQuerySerializer,
    NotificationsReadSerializer,
    ReadMarkerSerializer,
)
from messaging.throttling import UserWriteThrottle
from realtime.fields import validated

NOT_FOUND = OpenApiResponse(description="no such conversation among the user's")
INVALID = OpenApiResponse(description="invalid input (JSON error)")
NEXT_PAGE = OpenApiParameter(
    "Link", str, location=OpenApiParameter.HEADER, response=True, description='`<url>; rel="next"` while more pages follow'
)


class ConversationsView(APIView):
    """List the user's conversations (newest activity first), or open one."""

    throttle_classes = [UserWriteThrottle]
    throttle_scope = "conversations"

    @extend_schema(
        parameters=[ListPageSerializer, NEXT_PAGE],
        responses={200: ConversationSerializer(many=True), 400: INVALID},
        description="One page, newest activity first; the next page's URL is in the `Link` header.",
    )
    def get(self, request):
        query = validated(ListPageSerializer, request.query_params)
        paginator = conversations_pagination(page_size=query["limit"])
        memberships = paginator.paginate_queryset(selectors.user_conversations(user=request.user), request, view=self)
        return paginator.page_response(ConversationSerializer(memberships, many=True).data)

    @extend_schema(
        request=ConversationCreateSerializer,
        responses={201: ConversationSerializer, 200: ConversationSerializer, 400: INVALID},
        description="One other participant and no title opens (or returns, 200) the direct conversation of the pair.",
    )
    def post(self, request):
        form = validated(ConversationCreateSerializer, request.data)
        opened = services.create_conversation(creator=request.user, participant_ids=form["participants"], title=form["title"])
        membership = selectors.user_conversation(user=request.user, conversation_id=opened.conversation.pk)
        answer = status.HTTP_201_CREATED if opened.created else status.HTTP_200_OK
        return Response(ConversationSerializer(membership).data, status=answer)


class MessagesView(APIView):
    """Read a page of a conversation's messages, or send one."""

    throttle_classes = [UserWriteThrottle]
    throttle_scope = "messages"

    @extend_schema(
        parameters=[MessagePageSerializer],
        responses={200: MessageSerializer(many=True), 404: NOT_FOUND},
        description="Ascending by id. `after`: the oldest `limit` messages above it; otherwise the newest below `before`.",
    )
    def get(self, request, conversation_id: int):
        page = validated(MessagePageSerializer, request.query_params)
        conversation = selectors.access_conversation(user=request.user, conversation_id=conversation_id)
        messages = selectors.conversation_messages(conversation=conversation, **page)
        return Response(MessageSerializer(messages, many=True).data)

    @extend_schema(
        request=MessageBodySerializer,
        responses={201: MessageSerializer, 200: MessageSerializer, 400: INVALID, 404: NOT_FOUND, 409: INVALID},
        description="Idempotent on `client_id`: sending it again answers the first message with 200.",
    )
    def post(self, request, conversation_id: int):
        conversation = selectors.access_conversation(user=request.user, conversation_id=conversation_id)
        form = validated(MessageBodySerializer, request.data)
        sent = services.send_message(sender=request.user, conversation=conversation, body=form["body"], client_id=form["client_id"])
        answer = status.HTTP_201_CREATED if sent.created else status.HTTP_200_OK
        return Response(MessageSerializer(sent.message).data, status=answer)


class ReadMarkerView(APIView):
    """Mark a conversation read up to a message."""

    @extend_schema(request=ReadMarkerSerializer, responses={204: None, 400: INVALID, 404: NOT_FOUND})
    def post(self, request, conversation_id: int):
        conversation = selectors.access_conversation(user=request.user, conversation_id=conversation_id)
        form = validated(ReadMarkerSerializer, request.data)
        message = selectors.conversation_message(conversation=conversation, message_id=form["message_id"])
        services.mark_read(user=request.user, conversation=conversation, message=message)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LeaveView(APIView):
    """Leave a group conversation."""

    @extend_schema(
        request=None,
        responses={204: None, 404: NOT_FOUND, 409: OpenApiResponse(description="a direct conversation (JSON error)")},
    )
    def post(self, request, conversation_id: int):
        conversation = selectors.access_conversation(user=request.user, conversation_id=conversation_id)
        services.leave_conversation(user=request.user, conversation=conversation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationsView(APIView):
    """List the user's notifications, newest first, with their unread count."""

    @extend_schema(
        parameters=[NotificationsQuerySerializer, NEXT_PAGE],
        responses={200: NotificationListSerializer, 400: INVALID},
        description="One page, newest first; `unread_count` counts all of them; the next page's URL is in the `Link` header.",
    )
    def get(self, request):
        query = validated(NotificationsQuerySerializer, request.query_params)
        paginator = notifications_pagination(page_size=query["limit"])
        notifications = paginator.paginate_queryset(
            selectors.user_notifications(user=request.user, unread_only=query["unread"]), request, view=self
        )
        unread_count = selectors.unread_notification_count(user=request.user)
        return paginator.page_response(
            NotificationListSerializer({"notifications": notifications, "unread_count": unread_count}).data
        )


class NotificationsReadView(APIView):
    """Mark notifications read: the listed ids, or all."""

    @extend_schema(request=NotificationsReadSerializer, responses={204: None, 400: INVALID})
    def post(self, request):
        form = validated(NotificationsReadSerializer, request.data)
        services.mark_notifications_read(user=request.user, ids=None if form.get("all") else form["ids"])
        return Response(status=status.HTTP_204_NO_CONTENT)
