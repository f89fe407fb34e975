"""ASGI entry point of server B-chat: /ws/ to the chat consumer."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.chat.settings")

import django

django.setup()

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path

from bench.chat.consumers import ChatConsumer

application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/", ChatConsumer.as_asgi())])})
