"""The ASGI application: HTTP to Django; WebSocket through the origin check to the one consumer at /ws/."""

from __future__ import annotations

from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import WebsocketDenier
from django.urls import path, re_path

from realtime.consumer import SocketConsumer
from realtime.origin import OriginValidator
from realtime.publish import ServingLoop

websocket_urlpatterns = [
    path("ws/", SocketConsumer.as_asgi()),
    re_path(r"", WebsocketDenier.as_asgi()),
]

websocket_application = OriginValidator(URLRouter(websocket_urlpatterns))


def application(*, http):
    """Return the whole ASGI application around Django's HTTP one (each connection knows its event loop)."""
    return ServingLoop(ProtocolTypeRouter({"http": http, "websocket": websocket_application}))
