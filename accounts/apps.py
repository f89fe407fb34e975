from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Owns logins and devices: device tokens, their check for REST and sockets, throttling and revocation."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import schema, signals  # noqa: F401  (registers the OpenAPI extensions, connects the revocation triggers)
