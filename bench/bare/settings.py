"""Settings of server B: the smallest Django project that serves one stock Channels consumer.

BENCH_LAYER picks the channel layer: `memory` (InMemoryChannelLayer, the default), `redis`
(channels_redis core RedisChannelLayer) or `pubsub` (RedisPubSubChannelLayer), each with its
library defaults. BENCH_REDIS_URL and BENCH_REDIS_PREFIX say where Redis is.
"""

import os

SECRET_KEY = "bench-bare-channels-not-a-secret-0000000000000000000000000000000000"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["daphne", "channels"]
ASGI_APPLICATION = "bench.bare.asgi.application"
DATABASES = {}
USE_TZ = True
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

_layer = os.environ.get("BENCH_LAYER", "memory")
_redis = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
_prefix = os.environ.get("BENCH_REDIS_PREFIX", "bench")
if _layer == "memory":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
elif _layer == "redis":
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [_redis], "prefix": _prefix}}
    }
elif _layer == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [_redis], "prefix": _prefix},
        }
    }
else:
    raise RuntimeError(f"BENCH_LAYER={_layer!r}: expected memory, redis or pubsub")
