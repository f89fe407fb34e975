"""Reads for accounts."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import Device


def request_device(request: HttpRequest) -> Device | None:
    """Return the device the request speaks for: its Bearer token's or its session's."""
    return getattr(request, "dedwen_device", None)


def user_devices(*, user: AbstractBaseUser) -> QuerySet[Device]:
    """Return a user's devices, newest first."""
    return Device.objects.filter(user=user).order_by("-created_at")


def user_device(*, user: AbstractBaseUser, device_id: int) -> Device | None:
    """Return one of the user's own devices, or None."""
    return Device.objects.filter(user=user, pk=device_id).first()


def search_users(*, query: str, exclude: AbstractBaseUser, limit: int = 10) -> QuerySet:
    """Return active users whose username contains the query, alphabetically, never `exclude`."""
    User = get_user_model()
    field = User.USERNAME_FIELD
    users = User.objects.filter(is_active=True, **{f"{field}__icontains": query}).exclude(pk=exclude.pk)
    return users.order_by(field)[:limit]
