"""ASGI entry point: HTTP to Django, /ws/ to the real-time consumer (served by daphne)."""

import gc
import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dedwen.settings")
django_asgi_app = get_asgi_application()

from dedwen.sqlite import checkpoint_in_background  # noqa: E402  (needs the apps loaded)
from operations.endpoints import OperationsEndpoints  # noqa: E402
from realtime import routing  # noqa: E402

# /healthz, /readyz and /metrics are answered before Django (operations/endpoints.py).
application = routing.application(http=OperationsEndpoints(django_asgi_app))

# Embedded: SQLite's checkpoints run in a thread of this process, so that the commits that
# acknowledge messages seldom pay one (dedwen/sqlite.py). Nothing to do on PostgreSQL.
checkpoint_in_background()

if "daphne.cli" in sys.modules:
    # Served by the `daphne` command: have it run dedwen's server subclass, which applies the
    # WebSocket size limit, close codes instead of drops, the slow-reader bound (4409) and readable
    # answers to over-long requests (realtime/server.py). Imported only here: importing
    # daphne.server installs Twisted's reactor, which no other process should get as a side effect.
    from realtime.server import install  # noqa: E402

    install()

# What is loaded by now (Django, the apps, the server) lives as long as the process: move it out of
# the cyclic collector's reach, so that its full passes walk only what serving created. On the
# bench machine each full pass over the loaded process took 50-70 ms, a pause every socket waited
# through (docs/performance.md, "Collector pauses").
gc.freeze()
