"""Per-user budgets of REST writes (creating conversations, posting messages), counted in Django's cache.

The cache is Redis when REDIS_URL is set, so every process counts against the same budget.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import ScopedRateThrottle

logger = logging.getLogger("dedwen.throttling")


class UserWriteThrottle(ScopedRateThrottle):
    """Throttle a user's writes to a view by its `throttle_scope`; reads pass.

    The rate of scope `messages` is the setting DEDWEN_THROTTLE_MESSAGES, read per request (DRF's own
    rate table is bound when its module loads, so settings overridden later would not reach it).
    """

    def allow_request(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        try:
            return super().allow_request(request, view)
        except redis.RedisError as exc:  # an unreachable Redis must not fail the write: REST keeps working
            logger.warning("throttle cache unavailable, request allowed: %s", type(exc).__name__)
            return True

    def get_rate(self) -> str:
        return getattr(settings, f"DEDWEN_THROTTLE_{self.scope.upper()}")
