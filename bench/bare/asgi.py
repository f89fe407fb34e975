"""ASGI entry point of server B: /ws/ to the stock consumer."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.bare.settings")

import django  # noqa: E402

django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.bare.consumers import BareConsumer  # noqa: E402

application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/", BareConsumer.as_asgi())])})
