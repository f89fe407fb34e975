"""This process's Prometheus metric families (docs/protocol.md §5 names them); /metrics exposes them.

Each daphne process keeps its own figures in prometheus-client's default registry (which also holds
the client's process and Python collectors); Prometheus scrapes every process as its own target,
so no multiprocess mode is needed. Apps observe the families that are theirs (messages, presence).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INVALID_TYPE = "invalid"  # the `type` label of a client frame that names no known type, or is not a frame

WS_CONNECTIONS = Gauge("dedwen_ws_connections", "Sockets open now.", ["state"])
WS_CONNECTS = Counter("dedwen_ws_connects", "Sockets accepted.")
WS_CLOSES = Counter("dedwen_ws_closes", "Sockets closed, by close code.", ["code"])
WS_AUTH_SECONDS = Histogram(
    "dedwen_ws_auth_seconds",
    "From accept to `authenticated`.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WS_FRAMES = Counter("dedwen_ws_frames", "Frames by direction and type.", ["direction", "type"])
MESSAGES_SENT = Counter("dedwen_messages_sent", "Messages stored by this process (WebSocket and REST).")
MESSAGE_SEND_SECONDS = Histogram(
    "dedwen_message_send_seconds",
    "From a `message.send` frame's arrival to its `ack`.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
REVOCATION_CLOSE_SECONDS = Histogram(
    "dedwen_revocation_close_seconds",
    "From a revocation's commit to the 4403 close of each socket this process held.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0),
)
PRESENCE_TRANSITIONS = Counter(
    "dedwen_presence_transitions", "Presence changes announced by this process.", ["status"]
)
REDIS_FAILOVERS = Counter(
    "dedwen_redis_failovers", "Changes of the Redis master's address this process saw (Sentinel mode)."
)

PENDING, AUTHENTICATED = "pending", "authenticated"
# Both series exist from the start, at 0, and are looked up once here rather than on every connect.
WS_CONNECTIONS_BY_STATE = {_state: WS_CONNECTIONS.labels(state=_state) for _state in (PENDING, AUTHENTICATED)}
