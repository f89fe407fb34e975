"""Device-bound SimpleJWT tokens, and the one function that decides whether an access token is good.

REST (accounts.authentication) and the WebSocket consumer both call `authenticate_access_token`,
so a token is accepted or refused for the same reasons everywhere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts import usage
from accounts.models import Device
from realtime.auth import Refusal, TokenRefused
from realtime.rawsql import RawRead

DEVICE_CLAIM = "device"
MAX_TOKEN_LENGTH = 4096
LAST_USED_RESOLUTION = timedelta(minutes=1)


class WrongTokenType(TokenError):
    """The token is well signed but of another type (a refresh token used as access)."""


class _DeviceClaimMixin:
    def verify_token_type(self) -> None:
        """Refuse a token of another type with a distinct error."""
        try:
            super().verify_token_type()
        except TokenError as exc:
            raise WrongTokenType(str(exc)) from exc


class DeviceAccessToken(_DeviceClaimMixin, AccessToken):
    """An access token that names the device it was minted for."""

    @property
    def lifetime(self) -> timedelta:  # read at mint time, so settings overrides apply
        return timedelta(seconds=settings.ACCESS_TOKEN_LIFETIME)


class DeviceRefreshToken(_DeviceClaimMixin, RefreshToken):
    """A refresh token bound to a device; its access tokens inherit the device claim."""

    access_token_class = DeviceAccessToken

    @property
    def lifetime(self) -> timedelta:
        return settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]

    def check_blacklist(self) -> None:
        """Leave the blacklist to accounts.services.rotate_refresh_token, the one reader of refresh tokens."""
        # It checks it under the outstanding row's lock and must tell a replayed, rotated-out token
        # (whose device it revokes) from a bad one, which SimpleJWT's check would refuse alike.

    @classmethod
    def for_device(cls, device: Device) -> DeviceRefreshToken:
        """Mint a refresh token for a device (recorded as outstanding, for the blacklist)."""
        token = cls()
        token["user_id"] = device.user_id
        token[DEVICE_CLAIM] = device.pk
        # Recorded through the blacklist app's own path, now that the claims are final.
        from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

        OutstandingToken.objects.create(
            user_id=device.user_id,
            jti=token["jti"],
            token=str(token),
            created_at=token.current_time,
            expires_at=datetime_from_epoch(token["exp"]),
        )
        return token


class TokenFailure(StrEnum):
    """Why an access token was refused."""

    MISSING = "missing"
    MALFORMED = "malformed"
    INVALID = "invalid"  # bad signature, wrong alg, unknown crit, claims missing or of the wrong shape
    EXPIRED = "expired"
    WRONG_TYPE = "wrong_type"
    UNKNOWN_USER = "unknown_user"
    INACTIVE = "inactive"
    REVOKED = "revoked"


# What each failure means for a socket (realtime.auth.Refusal); any other failure is a bad token.
_REFUSALS = {TokenFailure.REVOKED: Refusal.REVOKED, TokenFailure.INACTIVE: Refusal.INACTIVE}


class TokenRejected(TokenRefused):
    """An access token that must not be honoured; `failure` says why (REST and WebSocket alike)."""

    def __init__(self, failure: TokenFailure) -> None:
        super().__init__(failure.value, _REFUSALS.get(failure, Refusal.INVALID))
        self.failure = failure


@dataclass(frozen=True)
class TokenIdentity:
    """Who an accepted access token speaks for, and until when."""

    user: AbstractBaseUser
    device: Device
    expires_at: datetime


def authenticate_access_token(raw: object) -> TokenIdentity:
    """Return the user and device of a valid access token, or raise TokenRejected."""
    if raw is None or raw == "":
        raise TokenRejected(TokenFailure.MISSING)
    if not isinstance(raw, str) or len(raw) > MAX_TOKEN_LENGTH or raw.count(".") != 2 or not raw.isascii():
        raise TokenRejected(TokenFailure.MALFORMED)
    try:
        token = DeviceAccessToken(raw)
    except ExpiredTokenError:
        raise TokenRejected(TokenFailure.EXPIRED) from None
    except WrongTokenType:
        raise TokenRejected(TokenFailure.WRONG_TYPE) from None
    except TokenError:
        raise TokenRejected(TokenFailure.INVALID) from None
    user_id, device_id = token.get("user_id"), token.get(DEVICE_CLAIM)
    if type(user_id) is not int or type(device_id) is not int:
        raise TokenRejected(TokenFailure.INVALID)
    device = _device_with_user(device_id)
    if device is None or device.user_id != user_id:
        user_exists = get_user_model().objects.filter(pk=user_id).exists()
        raise TokenRejected(TokenFailure.INVALID if user_exists else TokenFailure.UNKNOWN_USER)
    if not device.is_live:
        raise TokenRejected(TokenFailure.INACTIVE if not device.user.is_active else TokenFailure.REVOKED)
    _touch(device)
    return TokenIdentity(user=device.user, device=device, expires_at=datetime_from_epoch(token["exp"]))


def _device_with_user_sql(connection: BaseDatabaseWrapper) -> str:
    """Return the statement of `_device_with_user`: every column of the device and of its user."""
    quote = connection.ops.quote_name
    user_model = get_user_model()
    columns = [f"d.{quote(f.column)}" for f in Device._meta.concrete_fields]
    columns += [f"u.{quote(f.column)}" for f in user_model._meta.concrete_fields]
    return (
        f"SELECT {', '.join(columns)} FROM {quote(Device._meta.db_table)} d"
        f" INNER JOIN {quote(user_model._meta.db_table)} u"
        f" ON u.{quote(user_model._meta.pk.column)} = d.{quote(Device._meta.get_field('user').column)}"
        f" WHERE d.{quote(Device._meta.pk.column)} = %s"
    )


@functools.cache
def _device_with_user_read() -> RawRead:
    """Return the read of a device and its user (built on first use, once the user model is known)."""
    fields = [*Device._meta.concrete_fields, *get_user_model()._meta.concrete_fields]
    return RawRead(sql=_device_with_user_sql, fields=fields, model=Device)


def _device_with_user(device_id: int) -> Device | None:
    """Return the device with its user, as `Device.objects.select_related("user")` would, or None.

    Written out (realtime.rawsql): compiling that query cost several times running it, on every
    socket's authentication.
    """
    read = _device_with_user_read()
    alias = read.db()
    rows = read.rows([device_id], using=alias)
    if not rows:
        return None
    user_model = get_user_model()
    split = len(Device._meta.concrete_fields)
    device = Device.from_db(alias, [f.attname for f in Device._meta.concrete_fields], rows[0][:split])
    user = user_model.from_db(alias, [f.attname for f in user_model._meta.concrete_fields], rows[0][split:])
    Device._meta.get_field("user").set_cached_value(device, user)
    return device


def _touch(device: Device) -> None:
    """Stamp the device as used, at most once a minute (written in bulk, see accounts.usage)."""
    now = timezone.now()
    if now - device.last_used_at >= LAST_USED_RESOLUTION:
        usage.stamp(device_id=device.pk, at=now)
        device.last_used_at = now


def mint_access_token(device: Device) -> DeviceAccessToken:
    """Mint a fresh access token for a device (no refresh token)."""
    token = DeviceAccessToken()
    token["user_id"] = device.user_id
    token[DEVICE_CLAIM] = device.pk
    return token


def token_expiry(token: DeviceAccessToken | DeviceRefreshToken) -> datetime:
    """Return when a token expires, as an aware UTC datetime."""
    return datetime_from_epoch(token["exp"])
