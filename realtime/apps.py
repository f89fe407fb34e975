from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    """Owns the real-time kernel: socket protocol, consumer, publishing, layers, errors, strict fields, the database bridge."""

    name = "realtime"
    verbose_name = "Real-time kernel"
