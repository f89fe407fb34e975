"""The stock Channels way: an AsyncJsonWebsocketConsumer, a JWT check, one group per conversation."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import jwt
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from bench.world import BENCH_SECRET, load

_world = load(os.environ["BENCH_WORLD"])
MEMBERS = {cid + 1: {uid + 1 for uid in users} for cid, users in _world.conversations.items()}
CONVERSATIONS_OF: dict[int, list[int]] = {}
for _cid, _users in MEMBERS.items():
    for _uid in _users:
        CONVERSATIONS_OF.setdefault(_uid, []).append(_cid)


class BareConsumer(AsyncJsonWebsocketConsumer):
    """authenticate -> authenticated; typing -> group_send to the conversation; ping -> pong."""

    user_id: int | None = None
    joined: list[str] = []

    async def connect(self):
        self.joined = []
        await self.accept()

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if self.user_id is None:
            if kind != "authenticate":
                await self.close(4400)
                return
            try:
                claims = jwt.decode(content["data"]["token"], BENCH_SECRET, algorithms=["HS256"])
                user_id = int(claims["user_id"])
            except (jwt.PyJWTError, KeyError, TypeError, ValueError):
                await self.close(4401)
                return
            self.user_id = user_id
            self.joined = [f"user.{user_id}"] + [f"conv.{cid}" for cid in CONVERSATIONS_OF.get(user_id, ())]
            for group in self.joined:
                await self.channel_layer.group_add(group, self.channel_name)
            expires = datetime.fromtimestamp(claims["exp"], tz=timezone.utc).isoformat()
            await self.send_json(
                {
                    "type": "authenticated",
                    "data": {"user": {"id": user_id, "username": f"user{user_id}"}, "device_id": user_id, "expires_at": expires},
                }
            )
        elif kind == "typing":
            cid = (content.get("data") or {}).get("conversation_id")
            if self.user_id not in MEMBERS.get(cid, ()):
                await self.send_json({"type": "error", "data": {"code": "not_found", "message": "no such conversation"}})
                return
            await self.channel_layer.group_send(f"conv.{cid}", {"type": "conv.typing", "conversation_id": cid, "user_id": self.user_id})
        elif kind == "ping":
            await self.send_json({"type": "pong", "data": {}})
        else:
            await self.send_json({"type": "error", "data": {"code": "unknown_type", "message": "unknown type"}})

    async def conv_typing(self, event):
        if event["user_id"] != self.user_id:
            await self.send_json({"type": "typing", "data": {"conversation_id": event["conversation_id"], "user_id": event["user_id"]}})

    async def disconnect(self, code):
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
