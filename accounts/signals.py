"""Revoke devices when a user's password changes or the user is deactivated, whatever path did it;
close the live sockets of a device that is deleted (with its user, say). Also the signal accounts sends."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import Signal, receiver

from accounts.models import Device
from realtime.publish import close_device_sockets

# Sent by `manage.py seed_demo` once the demo users exist (`users`: username -> user), so that the
# apps built on accounts can seed their own demo data without accounts knowing them.
demo_users_seeded = Signal()

User = get_user_model()
_WATCHED = {"password", "is_active"}


@receiver(pre_save, sender=User, dispatch_uid="accounts.remember_credentials")
def remember_credentials(sender, instance, update_fields=None, raw=False, **kwargs) -> None:
    """Note whether this save changes the password or deactivates the user."""
    instance._dedwen_revoke_reason = None
    if raw or instance.pk is None or (update_fields is not None and not _WATCHED & set(update_fields)):
        return
    before = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    if before["is_active"] and not instance.is_active:
        instance._dedwen_revoke_reason = Device.RevokeReason.DEACTIVATED
    elif before["password"] != instance.password:
        instance._dedwen_revoke_reason = Device.RevokeReason.PASSWORD_CHANGE


@receiver(post_save, sender=User, dispatch_uid="accounts.revoke_on_credentials_change")
def revoke_on_credentials_change(sender, instance, created=False, raw=False, **kwargs) -> None:
    """Revoke the user's devices after a password change or a deactivation."""
    reason = getattr(instance, "_dedwen_revoke_reason", None)
    handled = getattr(instance, "_dedwen_devices_handled", False)
    instance._dedwen_revoke_reason = None
    instance._dedwen_devices_handled = False
    if created or raw or reason is None:
        return
    if handled and reason == Device.RevokeReason.PASSWORD_CHANGE:
        return
    from accounts.services import revoke_user_devices

    revoke_user_devices(user=instance, reason=reason)


@receiver(post_delete, sender=Device, dispatch_uid="accounts.close_deleted_device")
def close_deleted_device(sender, instance, **kwargs) -> None:
    """Close a deleted live device's sockets, as a revocation would."""
    if instance.revoked_at is None:
        close_device_sockets(device_ids=[instance.pk])


@receiver(user_logged_in, dispatch_uid="accounts.record_login_device")
def record_login_device(sender, request=None, user=None, **kwargs) -> None:
    """Give every login a device, whichever view performed it (the API, the form, the admin's)."""
    if request is None or not hasattr(request, "session"):
        return
    from accounts.services import start_device

    start_device(request=request, user=user, client_id=getattr(request, "dedwen_login_client_id", ""))
