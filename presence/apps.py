from django.apps import AppConfig


class PresenceConfig(AppConfig):
    """Who is online: per-socket presence across processes, and last seen."""

    name = "presence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from presence.realtime import SOCKET_APP, check_store
        from realtime import health, registry

        registry.register(SOCKET_APP)
        health.register("presence", check_store)
