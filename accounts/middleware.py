"""Tie a session to the device its login created."""

from __future__ import annotations

from django.contrib import auth

from accounts.models import Device
from accounts.services import SESSION_DEVICE_KEY


class DeviceSessionMiddleware:
    """Set request.dedwen_device from the session, and end a session whose device was revoked."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.dedwen_device = None
        device_id = request.session.get(SESSION_DEVICE_KEY)
        if device_id is not None and request.user.is_authenticated:
            device = Device.objects.select_related("user").filter(pk=device_id, user_id=request.user.pk).first()
            if device is None or not device.is_live:
                auth.logout(request)
            else:
                request.dedwen_device = device
        return self.get_response(request)
