"""ASGI entry point of server B-chat: /ws/ to the chat consumer."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.chat.settings")

import django  # noqa: E402

django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.chat.consumers import ChatConsumer  # noqa: E402

application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/", ChatConsumer.as_asgi())])})
