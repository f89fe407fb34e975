from django.apps import AppConfig


class PresenceConfig(AppConfig):
    """Owns who is online: per-socket presence across processes, its announcements, and last seen."""

    name = "presence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from presence.realtime import SOCKET_APP
        from realtime import registry

        registry.register(SOCKET_APP)
