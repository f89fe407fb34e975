"""The socket authenticator accounts plugs into the kernel (DEDWEN_SOCKET_AUTHENTICATOR)."""

from __future__ import annotations

import functools

from django.contrib.auth import get_user_model
from django.db.backends.base.base import BaseDatabaseWrapper

from accounts.models import Device
from accounts.tokens import authenticate_access_token
from realtime.auth import Identity
from realtime.rawsql import RawRead


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
        """Tell whether the device is still live (not revoked, its user active), as `Device.objects.live()` would.

        Written out (realtime.rawsql): every socket runs it every DEDWEN_WS_DEVICE_RECHECK seconds,
        and compiling the ORM's query cost more than running it.
        """
        return bool(_live_device_read().rows([device_id, user_id, True]))


def _live_device_sql(connection: BaseDatabaseWrapper) -> str:
    """Return the statement of `is_live`: the device, if not revoked and its user's, while the user is active."""
    quote = connection.ops.quote_name
    users = get_user_model()._meta
    device = Device._meta
    return (
        f"SELECT 1 FROM {quote(device.db_table)} d"
        f" INNER JOIN {quote(users.db_table)} u ON u.{quote(users.pk.column)} = d.{quote(device.get_field('user').column)}"
        f" WHERE d.{quote(device.pk.column)} = %s AND d.{quote(device.get_field('user').column)} = %s"
        f" AND d.{quote(device.get_field('revoked_at').column)} IS NULL AND u.{quote(users.get_field('is_active').column)} = %s"
    )


@functools.cache
def _live_device_read() -> RawRead:
    """Return the read behind `is_live`."""
    return RawRead(sql=_live_device_sql, fields=[None], model=Device)


authenticator = DeviceTokenAuthenticator()
