"""Shapes of the accounts API."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.serializers import TokenRefreshSerializer

from accounts import services
from accounts.tokens import MAX_TOKEN_LENGTH, DeviceRefreshToken


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, trim_whitespace=False)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True)
    client_id = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)


class MeSerializer(UserSerializer):
    """The user's own object: the user and the fields other apps add (accounts.me)."""

    def get_fields(self):
        from accounts import me

        found = super().get_fields()
        found.update({extra.name: extra.field() for extra in me.fields()})
        return found


class UserMatchSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class DeviceRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)


class LoginResponseSerializer(serializers.Serializer):
    user = UserSerializer()
    token = serializers.CharField()
    refresh = serializers.CharField()
    expiresAt = serializers.DateTimeField()  # noqa: N815 - the contract's name
    device = DeviceRefSerializer()


class AccessTokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expiresAt = serializers.DateTimeField()  # noqa: N815


class RefreshResponseSerializer(AccessTokenResponseSerializer):
    refresh = serializers.CharField()


class DeviceTokenRefreshSerializer(TokenRefreshSerializer):
    """Rotate a device's refresh token; refuse it when the device is revoked or the user inactive."""

    token_class = DeviceRefreshToken
    refresh = serializers.CharField(max_length=MAX_TOKEN_LENGTH)

    def validate(self, attrs):
        try:
            issued = services.rotate_refresh_token(raw=attrs["refresh"])
        except services.RefreshRefused as exc:
            raise InvalidToken(str(exc)) from None
        return {"token": str(issued.access), "refresh": str(issued.refresh), "expiresAt": issued.expires_at}
