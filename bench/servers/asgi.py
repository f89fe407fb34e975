"""Server D: R's relay as a plain ASGI application served by daphne (daphne's own floor).

No Django, no Channels, no layer: the same first-frame JWT, `typing` relayed to the other members'
sockets by calling their ASGI `send` directly. What D costs is what daphne, Twisted and autobahn
cost; any daphne-served consumer pays at least that.
usage: BENCH_WORLD=world.json daphne -b 127.0.0.1 -p PORT bench.servers.asgi:application
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import datetime, timezone

import jwt

from bench.world import BENCH_SECRET, load

_ERROR_BAD = '{"type":"error","data":{"code":"bad_frame","message":"bad frame"}}'
_ERROR_NOT_FOUND = '{"type":"error","data":{"code":"not_found","message":"no such conversation"}}'
_ERROR_UNKNOWN = '{"type":"error","data":{"code":"unknown_type","message":"unknown type"}}'

_world = load(os.environ["BENCH_WORLD"])
MEMBERS = {cid + 1: [uid + 1 for uid in users] for cid, users in _world.conversations.items()}
SENDS: dict[int, set] = defaultdict(set)  # user id -> the ASGI send callables of their sockets


def _claims(text: str) -> dict | None:
    """Return the claims of an `authenticate` frame's token, or None."""
    try:
        frame = json.loads(text)
        if frame.get("type") != "authenticate":
            return None
        return jwt.decode(frame["data"]["token"], BENCH_SECRET, algorithms=["HS256"])
    except (ValueError, TypeError, KeyError, AttributeError, jwt.PyJWTError):
        return None


async def _text(send, text: str) -> None:
    await send({"type": "websocket.send", "text": text})


async def application(scope, receive, send) -> None:
    """One socket: accept, authenticate with the first frame, then relay `typing` and answer `ping`."""
    if scope["type"] != "websocket":
        return
    user_id = None
    try:
        while True:
            event = await receive()
            if event["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif event["type"] == "websocket.disconnect":
                return
            elif user_id is None:
                claims = _claims(event.get("text") or "")
                if claims is None:
                    await send({"type": "websocket.close", "code": 4401})
                    return
                user_id = int(claims["user_id"])
                expires = datetime.fromtimestamp(claims["exp"], tz=timezone.utc).isoformat()
                user = {"id": user_id, "username": f"user{user_id}"}
                await _text(send, json.dumps({"type": "authenticated", "data": {"user": user, "device_id": user_id, "expires_at": expires}}))
                SENDS[user_id].add(send)
            else:
                await _relay(user_id, event.get("text") or "", send)
    finally:
        if user_id is not None:
            SENDS[user_id].discard(send)
            if not SENDS[user_id]:
                del SENDS[user_id]


async def _relay(user_id: int, text: str, send) -> None:
    try:
        frame = json.loads(text)
        kind, data = frame["type"], frame.get("data") or {}
    except (ValueError, TypeError, KeyError):
        await _text(send, _ERROR_BAD)
        return
    if kind == "typing":
        cid = data.get("conversation_id")
        members = MEMBERS.get(cid)
        if members is None or user_id not in members:
            await _text(send, _ERROR_NOT_FOUND)
            return
        out = json.dumps({"type": "typing", "data": {"conversation_id": cid, "user_id": user_id}}, separators=(",", ":"))
        for target in [s for uid in members if uid != user_id for s in SENDS.get(uid, ())]:
            await _text(target, out)
    elif kind == "ping":
        await _text(send, '{"type":"pong","data":{}}')
    else:
        await _text(send, _ERROR_UNKNOWN)
