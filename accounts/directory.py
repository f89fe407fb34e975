"""The user directory the inbox searches to start a conversation: GET /accounts/users/?q=."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

MAX_RESULTS = 10


def search_users(*, query: str, exclude: AbstractBaseUser, limit: int = MAX_RESULTS) -> QuerySet:
    """Return active users whose username contains the query, alphabetically, never `exclude`."""
    User = get_user_model()
    field = User.USERNAME_FIELD
    users = User.objects.filter(is_active=True, **{f"{field}__icontains": query}).exclude(pk=exclude.pk)
    return users.order_by(field)[:limit]


class DirectoryUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class UserSearchView(APIView):
    """Find people to talk to by username (at most 10, the caller excluded)."""

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="part of a username (1-150 characters)")],
        responses={200: DirectoryUserSerializer(many=True)},
    )
    def get(self, request):
        query = request.query_params.get("q", "").strip()[:150]
        if not query:
            return Response([])
        users = search_users(query=query, exclude=request.user)
        return Response([{"id": user.pk, "username": user.get_username()} for user in users])
