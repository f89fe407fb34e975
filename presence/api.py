"""The presence REST API: the status of users who share a conversation with the caller."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from presence.selectors import presence_for
from presence.serializers import PresenceQuerySerializer, PresenceSerializer
from presence.stores import get_store


class PresenceView(APIView):
    """Answer the presence of the asked users the caller may see; the others are left out, not disclosed."""

    @extend_schema(
        parameters=[OpenApiParameter("user", int, many=True, required=True, description="a user id; repeat it")],
        responses={200: PresenceSerializer(many=True), 400: OpenApiResponse(description="missing or non-numeric ids")},
    )
    def get(self, request):
        query = PresenceQuerySerializer(data={"user": request.query_params.getlist("user")})
        query.is_valid(raise_exception=True)
        users = presence_for(store=get_store(), viewer_id=request.user.pk, user_ids=query.validated_data["user"])
        return Response(users)
