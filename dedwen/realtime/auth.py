"""What the socket asks of accounts: validate a token, and re-check a device it already holds."""

from __future__ import annotations

from accounts.models import Device
from accounts.tokens import TokenIdentity, authenticate_access_token

__all__ = ["TokenIdentity", "authenticate_access_token", "device_is_live"]


def device_is_live(*, device_id: int, user_id: int) -> bool:
    """Return True while the device is not revoked and its user is still active."""
    return Device.objects.filter(
        pk=device_id, user_id=user_id, revoked_at__isnull=True, user__is_active=True
    ).exists()
