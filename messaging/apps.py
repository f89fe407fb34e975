from django.apps import AppConfig


class MessagingConfig(AppConfig):
    """Conversations, messages, read markers and notifications."""

    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"
