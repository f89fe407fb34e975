"""Server R: a raw `websockets` server speaking dedwen's first-frame JWT protocol (the Python ceiling).

authenticate -> authenticated; typing -> relayed to the other members' sockets (serialized once);
ping -> pong. Membership comes from the bench world file; tokens are the bench HS256 JWTs.
usage: python -m bench.servers.raw PORT WORLD_JSON
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections import defaultdict
from datetime import datetime, timezone

import jwt
from websockets.asyncio.server import broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench.world import BENCH_SECRET, load

AUTH_TIMEOUT = 10.0


class Relay:
    """Sockets by user, and the members of every conversation."""

    def __init__(self, conversations: dict[int, list[int]]) -> None:
        # ids on the wire are index + 1, like the B server
        self.members = {cid + 1: [uid + 1 for uid in users] for cid, users in conversations.items()}
        self.sockets: dict[int, set] = defaultdict(set)

    async def handler(self, ws) -> None:
        try:
            first = await asyncio.wait_for(ws.recv(), AUTH_TIMEOUT)
        except TimeoutError:
            await ws.close(4408)
            return
        except ConnectionClosed:
            return
        try:
            frame = json.loads(first)
            if frame.get("type") != "authenticate":
                raise ValueError
            token = frame["data"]["token"]
        except (ValueError, TypeError, KeyError, AttributeError):
            await ws.close(4400)
            return
        try:
            claims = jwt.decode(token, BENCH_SECRET, algorithms=["HS256"])
            user_id = int(claims["user_id"])
        except (jwt.PyJWTError, KeyError, ValueError):
            await ws.close(4401)
            return
        expires = datetime.fromtimestamp(claims["exp"], tz=timezone.utc).isoformat()
        user = {"id": user_id, "username": f"user{user_id}"}
        await ws.send(json.dumps({"type": "authenticated", "data": {"user": user, "device_id": user_id, "expires_at": expires}}))
        self.sockets[user_id].add(ws)
        try:
            async for raw in ws:
                try:
                    frame = json.loads(raw)
                    kind, data = frame["type"], frame.get("data") or {}
                except (ValueError, TypeError, KeyError):
                    await ws.send('{"type":"error","data":{"code":"bad_frame","message":"bad frame"}}')
                    continue
                if kind == "typing":
                    cid = data.get("conversation_id")
                    members = self.members.get(cid)
                    if members is None or user_id not in members:
                        await ws.send('{"type":"error","data":{"code":"not_found","message":"no such conversation"}}')
                        continue
                    text = json.dumps({"type": "typing", "data": {"conversation_id": cid, "user_id": user_id}}, separators=(",", ":"))
                    targets = [s for uid in members if uid != user_id for s in self.sockets.get(uid, ())]
                    broadcast(targets, text)
                elif kind == "ping":
                    await ws.send('{"type":"pong","data":{}}')
                else:
                    await ws.send('{"type":"error","data":{"code":"unknown_type","message":"unknown type"}}')
        except ConnectionClosed:
            pass
        finally:
            sockets = self.sockets.get(user_id)
            if sockets is not None:
                sockets.discard(ws)
                if not sockets:
                    del self.sockets[user_id]


async def main(port: int, world_path: str) -> None:
    relay = Relay(load(world_path).conversations)
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with serve(relay.handler, "127.0.0.1", port, compression=None, max_size=65536, backlog=1024):
        await stop


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
