"""Settings of server B-chat: a stock Django project with one chat app, served by daphne.

The database and the layer are each project's stock choices, nothing tuned:
- BENCH_CHAT_PG_DB unset: SQLite at BENCH_CHAT_SQLITE, and channels' InMemoryChannelLayer (B-chat);
- BENCH_CHAT_PG_DB set: PostgreSQL (that database on 127.0.0.1, user postgres), and
  channels_redis.pubsub.RedisPubSubChannelLayer at BENCH_REDIS_URL / BENCH_REDIS_PREFIX (B-chat-redis).
CONN_MAX_AGE is left at Django's default, 0: every database_sync_to_async call closes its connection
when it ends, so each message opens one (as a typical app that never set it does).
"""

import os

SECRET_KEY = "bench-chat-channels-not-a-secret-000000000000000000000000000000000000"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["daphne", "channels", "bench.chat"]
ASGI_APPLICATION = "bench.chat.asgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

_pg = os.environ.get("BENCH_CHAT_PG_DB")
_redis = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
_prefix = os.environ.get("BENCH_REDIS_PREFIX", "bench")
if _pg:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.postgresql", "NAME": _pg, "USER": "postgres", "HOST": "127.0.0.1", "PORT": "5432"}
    }
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [_redis], "prefix": _prefix}}
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("BENCH_CHAT_SQLITE", "/tmp/dedwen-bench/chat.sqlite3")}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
