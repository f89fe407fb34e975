"""The WebSocket application: origin check, then the one consumer at /ws/ (any other path is denied)."""

from __future__ import annotations

from channels.routing import URLRouter
from channels.security.websocket import WebsocketDenier
from django.urls import path, re_path

from realtime.consumer import SocketConsumer
from realtime.origin import OriginValidator

websocket_urlpatterns = [
    path("ws/", SocketConsumer.as_asgi()),
    re_path(r"", WebsocketDenier.as_asgi()),
]

websocket_application = OriginValidator(URLRouter(websocket_urlpatterns))
