from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users' devices, their tokens, and revocation."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import schema, signals  # noqa: F401  (registers the OpenAPI extensions, connects the revocation triggers)
