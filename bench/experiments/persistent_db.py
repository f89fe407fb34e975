"""dedwen's settings with persistent SQLite connections (CONN_MAX_AGE=None, health checks on).

With the default CONN_MAX_AGE=0, database_sync_to_async closes the connection after every call, so
every ORM hop of the consumer opens a new SQLite connection (and runs its init PRAGMAs).
"""

from dedwen.settings import *  # noqa: F401,F403
from dedwen.settings import DATABASES

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = None
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
