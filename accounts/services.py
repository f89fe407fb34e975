"""Writes for accounts: logging in a device, minting and rotating its tokens, revoking it."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import (
    BlacklistedToken,
    OutstandingToken,
)

from accounts.models import Device
from accounts.tokens import (
    DEVICE_CLAIM,
    DeviceAccessToken,
    DeviceRefreshToken,
    mint_access_token,
    token_expiry,
)
from realtime.publish import close_device_sockets

logger = logging.getLogger("dedwen.accounts")

SESSION_DEVICE_KEY = "dedwen_device_id"


@dataclass(frozen=True)
class IssuedTokens:
    """The tokens handed to a device: an access token, and a refresh token when one was minted."""

    device: Device
    access: DeviceAccessToken
    refresh: DeviceRefreshToken | None

    @property
    def expires_at(self) -> datetime:
        return token_expiry(self.access)


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's IP address: the peer's, or behind DEDWEN_PROXY_COUNT proxies the one the outermost saw."""
    # Device records and django-axes (AXES_CLIENT_IP_CALLABLE) both use it: the throttle counts per client.
    proxies = settings.DEDWEN_PROXY_COUNT
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(hops) >= proxies:
            try:
                return str(ipaddress.ip_address(hops[-proxies]))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR") or None


def log_in(*, request: HttpRequest, user: AbstractBaseUser, client_id: str = "") -> IssuedTokens:
    """Start a session and a device for this login, and mint the device's tokens (the JSON login)."""
    with transaction.atomic():
        device = log_in_session(request=request, user=user, client_id=client_id)
        refresh = DeviceRefreshToken.for_device(device)
    return IssuedTokens(device=device, access=refresh.access_token, refresh=refresh)


def log_in_session(*, request: HttpRequest, user: AbstractBaseUser, client_id: str = "") -> Device:
    """Start a session (new key) and a device for this login; its page asks for access tokens later."""
    request.dedwen_login_client_id = client_id
    auth.login(request, user)  # user_logged_in -> accounts.signals.record_login_device -> start_device
    device = request.dedwen_device
    logger.info("user %s logged in on device %s", user.pk, device.pk)
    return device


def start_device(*, request: HttpRequest, user: AbstractBaseUser, client_id: str = "") -> Device:
    """Record the device of a login that just happened, and bind the session to it."""
    device = Device.objects.create(
        user=user,
        client_id=client_id[:100],
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        ip_address=client_ip(request),
    )
    request.session[SESSION_DEVICE_KEY] = device.pk
    request.dedwen_device = device
    return device


class RefreshRefused(Exception):
    """A refresh token that cannot be traded: invalid, expired, already used, or of a dead device."""


def rotate_refresh_token(*, raw: str) -> IssuedTokens:
    """Trade a refresh token, once, for new tokens of its device; the old one is blacklisted.

    A token replayed more than DEDWEN_REFRESH_REUSE_GRACE seconds after it was rotated out revokes its
    device: two parties hold it, so it leaked (reuse detection, OAuth 2.0 Security BCP §4.14.2).
    """
    try:
        token = DeviceRefreshToken(raw)
    except TokenError as exc:
        raise RefreshRefused(str(exc)) from None
    try:
        return _trade_refresh_token(token)
    except _Replayed as replay:
        if replay.leaked and revoke_device(device=replay.device, reason=Device.RevokeReason.REFRESH_REUSE):
            logger.warning("revoked device %s: a rotated-out refresh token was replayed", replay.device.pk)
        raise RefreshRefused("Token is blacklisted") from None


class _Replayed(Exception):
    """A rotated-out refresh token came back; `leaked` when it came back after the grace."""

    def __init__(self, device: Device, *, leaked: bool) -> None:
        super().__init__(device.pk)
        self.device, self.leaked = device, leaked


def _trade_refresh_token(token: DeviceRefreshToken) -> IssuedTokens:
    """Rotate the token under a row lock; raise _Replayed when it was rotated out already."""
    with transaction.atomic():
        # The row lock makes two concurrent uses of one token end with exactly one winner.
        outstanding = OutstandingToken.objects.select_for_update().filter(jti=token["jti"]).first()
        device = Device.objects.select_related("user").filter(pk=token.get(DEVICE_CLAIM)).first()
        if outstanding is None or device is None or device.user_id != token.get("user_id"):
            raise RefreshRefused("Token is invalid")
        if not device.is_live:
            raise RefreshRefused("The device of this token is revoked")
        blacklisted, created = BlacklistedToken.objects.get_or_create(token=outstanding)
        if not created:
            # Within the grace, the loser of a race between two refreshes of one client (or a retry
            # whose answer was lost) is refused without ending the device the winner still uses.
            since = (timezone.now() - blacklisted.blacklisted_at).total_seconds()
            raise _Replayed(device, leaked=since > settings.DEDWEN_REFRESH_REUSE_GRACE)
        rotated = DeviceRefreshToken.for_device(device)
    return IssuedTokens(device=device, access=rotated.access_token, refresh=rotated)


def issue_access_token(*, device: Device) -> IssuedTokens:
    """Mint a fresh access token for a live device (the session's refresh path)."""
    return IssuedTokens(device=device, access=mint_access_token(device), refresh=None)


def revoke_device(*, device: Device, reason: Device.RevokeReason, by: AbstractBaseUser | None = None) -> bool:
    """Revoke one device; return False when it was already revoked."""
    return revoke_devices(devices=Device.objects.filter(pk=device.pk), reason=reason, by=by) == 1


def revoke_user_devices(
    *, user: AbstractBaseUser, reason: Device.RevokeReason, by: AbstractBaseUser | None = None, keep: Device | None = None
) -> int:
    """Revoke every live device of a user, except `keep`; return how many were revoked."""
    devices = Device.objects.filter(user=user)
    if keep is not None:
        devices = devices.exclude(pk=keep.pk)
    return revoke_devices(devices=devices, reason=reason, by=by)


def revoke_devices(*, devices, reason: Device.RevokeReason, by: AbstractBaseUser | None = None) -> int:
    """Revoke devices: mark them, blacklist their refresh tokens, close their live sockets after commit."""
    with transaction.atomic():
        # Plain rows only: a caller's queryset (the admin's) may carry joins and an ordering.
        unrevoked = devices.unrevoked().select_related(None).order_by()
        targets = list(Device.objects.filter(pk__in=unrevoked.values("pk")).select_for_update().values_list("pk", "user_id"))
        if not targets:
            return 0
        device_ids = [pk for pk, _ in targets]
        Device.objects.filter(pk__in=device_ids).update(revoked_at=timezone.now(), revoked_by=by, revoke_reason=reason)
        _blacklist_refresh_tokens(device_ids=set(device_ids), user_ids={user_id for _, user_id in targets})
        close_device_sockets(device_ids=device_ids)
    logger.info("revoked devices %s (%s)", device_ids, reason)
    return len(device_ids)


def _blacklist_refresh_tokens(*, device_ids: set[int], user_ids: set[int]) -> None:
    outstanding = OutstandingToken.objects.filter(
        user_id__in=user_ids, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    for token in outstanding:
        if _device_of(token.token) in device_ids:
            BlacklistedToken.objects.get_or_create(token=token)


def _device_of(encoded: str) -> int | None:
    """Read the device claim of a refresh token this server minted and stored."""
    try:
        payload = token_backend.decode(encoded, verify=False)
    except TokenBackendError:  # a stored token we cannot read belongs to no device
        return None
    return payload.get(DEVICE_CLAIM)


def log_out(*, request: HttpRequest, device: Device | None) -> None:
    """End the session and revoke the device it (or the request's token) belongs to."""
    if device is not None:
        revoke_device(device=device, reason=Device.RevokeReason.LOGOUT, by=device.user)
    auth.logout(request)


def change_password(*, user: AbstractBaseUser, new_password: str, current_device: Device | None) -> int:
    """Set a new password and revoke every other device of the user; return how many were revoked."""
    with transaction.atomic():
        user.set_password(new_password)
        user._dedwen_devices_handled = True  # accounts.signals would otherwise revoke every device
        user.save(update_fields=["password"])
        return revoke_user_devices(user=user, reason=Device.RevokeReason.PASSWORD_CHANGE, by=user, keep=current_device)
