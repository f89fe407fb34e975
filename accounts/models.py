"""Devices: one per login, the unit that tokens belong to and that revocation ends."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class DeviceQuerySet(models.QuerySet):
    def unrevoked(self) -> DeviceQuerySet:
        """Keep the devices that are not revoked (what revocation may still end)."""
        return self.filter(revoked_at__isnull=True)

    def revoked(self) -> DeviceQuerySet:
        """Keep the revoked devices."""
        return self.filter(revoked_at__isnull=False)

    def live(self) -> DeviceQuerySet:
        """Keep the devices that may be served: not revoked, and their user active (as Device.is_live)."""
        return self.unrevoked().filter(user__is_active=True)


class Device(models.Model):
    """A login of a user on a client: it owns the tokens minted for that login."""

    class RevokeReason(models.TextChoices):
        ADMIN = "admin", "revoked by an administrator"
        USER = "user", "revoked by its user"
        LOGOUT = "logout", "logged out"
        PASSWORD_CHANGE = "password_change", "password changed"
        DEACTIVATED = "deactivated", "user deactivated"
        REFRESH_REUSE = "refresh_reuse", "a rotated refresh token was replayed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices")
    client_id = models.CharField(max_length=100, blank=True, help_text="Chosen by the client to recognize itself.")
    user_agent = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_used_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoke_reason = models.CharField(max_length=20, choices=RevokeReason.choices, blank=True)

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"device {self.pk} of {self.user_id}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_live(self) -> bool:
        """Tell whether the device may be served: not revoked, and its user active (as DeviceQuerySet.live)."""
        return not self.is_revoked and self.user.is_active
