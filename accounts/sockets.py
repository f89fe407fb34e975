"""The socket authenticator accounts plugs into the kernel (DEDWEN_SOCKET_AUTHENTICATOR)."""

from __future__ import annotations

from accounts.models import Device
from accounts.tokens import authenticate_access_token
from realtime.auth import Identity


class DeviceTokenAuthenticator:
    """Authenticate sockets with device-bound access tokens; keep them only while the device is live."""

    def authenticate(self, token: object) -> Identity:
        """Return who a good access token speaks for, or raise TokenRejected (a realtime.auth.TokenRefused)."""
        accepted = authenticate_access_token(token)
        return Identity(
            user_id=accepted.user.pk,
            username=accepted.user.get_username(),
            device_id=accepted.device.pk,
            expires_at=accepted.expires_at,
        )

    def is_live(self, *, device_id: int, user_id: int) -> bool:
        """Tell whether the device is still live (not revoked, its user active)."""
        return Device.objects.live().filter(pk=device_id, user_id=user_id).exists()


authenticator = DeviceTokenAuthenticator()
