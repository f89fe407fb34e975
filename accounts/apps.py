from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users' devices, their tokens, and revocation."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (connects the revocation triggers)
