from django.apps import AppConfig


class MessagingConfig(AppConfig):
    """Owns conversations, messages, read markers, notifications, and who shares a conversation with whom."""

    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from messaging import demo  # noqa: F401  (seeds demo conversations when seed_demo runs)
        from messaging.realtime import SOCKET_APP
        from realtime import registry

        registry.register(SOCKET_APP)
