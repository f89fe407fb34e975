"""ASGI entry point: HTTP to Django, /ws/ to the real-time consumer (served by daphne)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dedwen.settings")
django_asgi_app = get_asgi_application()

from dedwen.realtime.routing import websocket_application  # noqa: E402  (needs the apps loaded)
from channels.routing import ProtocolTypeRouter  # noqa: E402

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application})
