from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """What an operator uses: health and readiness probes, /metrics, the admin's live connections."""

    name = "operations"
