"""The accounts REST API: log in, mint and rotate tokens, log out, who am I."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenRefreshView

from accounts import me, services
from accounts.authentication import DeviceSessionAuthentication
from accounts.selectors import request_device, search_users
from accounts.serializers import (
    AccessTokenResponseSerializer,
    LoginResponseSerializer,
    LoginSerializer,
    MeSerializer,
    RefreshResponseSerializer,
    UserMatchSerializer,
)
from accounts.throttling import lockout_response
from realtime.rest import error_response


def _user_body(user) -> dict:
    return {"id": user.pk, "username": user.get_username(), "email": user.email}


class LoginView(APIView):
    """Log in with a username and password: a session cookie plus tokens for a new device."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=LoginSerializer, responses={200: LoginResponseSerializer, 401: OpenApiResponse(description="bad credentials"), 429: OpenApiResponse(description="too many failed logins")})
    def post(self, request):
        form = LoginSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        django_request = request._request
        user = authenticate(django_request, username=form.validated_data["username"], password=form.validated_data["password"])
        if getattr(django_request, "axes_locked_out", False):
            return lockout_response(django_request)
        if user is None:
            return error_response("invalid_credentials", "The username or password is wrong.", status.HTTP_401_UNAUTHORIZED)
        issued = services.log_in(request=django_request, user=user, client_id=form.validated_data["client_id"])
        return Response(
            {
                "user": _user_body(user),
                "token": str(issued.access),
                "refresh": str(issued.refresh),
                "expiresAt": issued.expires_at,
                "device": {"id": issued.device.pk},
            }
        )


class SessionTokenView(APIView):
    """Mint a fresh access token for the session's device (the web UI's refresh path)."""

    authentication_classes = [DeviceSessionAuthentication]

    @extend_schema(request=None, responses={200: AccessTokenResponseSerializer})
    def post(self, request):
        device = request_device(request)
        if device is None:
            return error_response("no_device", "This session has no device; log in again.", status.HTTP_401_UNAUTHORIZED)
        issued = services.issue_access_token(device=device)
        return Response({"token": str(issued.access), "expiresAt": issued.expires_at})


class RefreshView(TokenRefreshView):
    """Rotate a refresh token: a new access and refresh token; the old refresh token is blacklisted."""

    @extend_schema(responses={200: RefreshResponseSerializer, 401: OpenApiResponse(description="revoked or invalid")})
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


class LogoutView(APIView):
    """Log out: revoke the current device, end the session and the device's live sockets."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        services.log_out(request=request._request, device=request_device(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """Return the authenticated user; PATCH changes the fields other apps add (`presence_visible`)."""

    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        return Response(_me_body(request.user))

    @extend_schema(request=MeSerializer, responses={200: MeSerializer})
    def patch(self, request):
        changes = MeSerializer(data=request.data, partial=True)
        changes.is_valid(raise_exception=True)
        with transaction.atomic():
            for extra in me.fields():
                if extra.name in changes.validated_data:
                    extra.write(user_id=request.user.pk, value=changes.validated_data[extra.name])
        return Response(_me_body(request.user))


def _me_body(user) -> dict:
    return {**_user_body(user), **{extra.name: extra.read(user_id=user.pk) for extra in me.fields()}}


class UserSearchView(APIView):
    """Find people to talk to by username (at most 10, the caller excluded)."""

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="part of a username (1-150 characters)")],
        responses={200: UserMatchSerializer(many=True)},
    )
    def get(self, request):
        query = request.query_params.get("q", "").strip()[:150]
        if not query:
            return Response([])
        users = search_users(query=query, exclude=request.user)
        return Response([{"id": user.pk, "username": user.get_username()} for user in users])
