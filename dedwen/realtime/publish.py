"""Send live events to groups after the database transaction that caused them commits."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from dedwen.realtime.protocol import EVENT_DEVICE_REVOKED, EVENT_FRAME, ServerFrame, device_group, user_group

logger = logging.getLogger("dedwen.realtime.publish")


def encode_frame(frame_type: ServerFrame, data: dict[str, Any], ref: str | None = None) -> str:
    """Serialize a server frame once, as compact JSON."""
    frame: dict[str, Any] = {"type": str(frame_type), "data": data}
    if ref is not None:
        frame["ref"] = ref
    return json.dumps(frame, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


async def agroup_send_all(groups: Iterable[str], event: dict[str, Any]) -> None:
    """Send one event to several groups; a layer failure is logged, never raised (delivery is best effort)."""
    layer = get_channel_layer()
    for group in groups:
        try:
            await layer.group_send(group, event)
        except Exception as exc:  # noqa: BLE001 - a down layer must not fail the change that was stored
            logger.warning("live event to %s not sent: %s: %s", group, type(exc).__name__, exc)


def _send_now(groups: list[str], event: dict[str, Any]) -> None:
    async_to_sync(agroup_send_all)(groups, event)


def send_after_commit(groups: Iterable[str], event: dict[str, Any]) -> None:
    """Send an event to groups once the current transaction commits (at once outside one)."""
    targets = list(dict.fromkeys(groups))
    if targets:
        transaction.on_commit(lambda: _send_now(targets, event), robust=True)


def publish_frame(*, user_ids: Iterable[int], frame_type: ServerFrame, data: dict[str, Any]) -> None:
    """Push a frame to every socket of the named users after commit; it is serialized once."""
    text = encode_frame(frame_type, data)
    send_after_commit((user_group(user_id) for user_id in user_ids), {"type": EVENT_FRAME, "text": text})


def publish_device_revoked(*, device_ids: Iterable[int]) -> None:
    """Close every live socket of the named devices (4403) after commit, on every process."""
    send_after_commit((device_group(device_id) for device_id in device_ids), {"type": EVENT_DEVICE_REVOKED})
