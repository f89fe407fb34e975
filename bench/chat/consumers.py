"""The tutorial's chat consumer made persistent: save with the ORM, group_send to the room, ack the sender."""

from __future__ import annotations

from channels.db import database_sync_to_async

from bench.bare.consumers import MEMBERS, BareConsumer
from bench.chat.models import Message


def message_json(message: Message) -> dict:
    """Return the wire form of a stored message."""
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "sender": {"id": message.sender_id, "username": f"user{message.sender_id}"},
        "body": message.body,
        "client_id": message.client_id,
        "created_at": message.created_at.isoformat(),
    }


class ChatConsumer(BareConsumer):
    """B's consumer (first-frame JWT, one group per conversation, typing) plus a persisted `message.send`.

    The message goes to the other sockets of the conversation as `message.new`; the sending socket
    gets only its `ack` (two frames per message in a two-member conversation).
    """

    async def receive_json(self, content, **kwargs):
        if self.user_id is not None and isinstance(content, dict) and content.get("type") == "message.send":
            await self.message_send(content.get("ref"), content.get("data") or {})
        else:
            await super().receive_json(content, **kwargs)

    async def message_send(self, ref, data: dict) -> None:
        cid, body, client_id = data.get("conversation_id"), data.get("body"), data.get("client_id")
        if self.user_id not in MEMBERS.get(cid, ()):
            await self.send_json({"type": "error", "ref": ref, "data": {"code": "not_found", "message": "no such conversation"}})
            return
        if not isinstance(body, str) or not body or not isinstance(client_id, str) or len(client_id) > 64:
            await self.send_json({"type": "error", "ref": ref, "data": {"code": "invalid", "message": "body and client_id are required"}})
            return
        message = await database_sync_to_async(Message.objects.create)(
            conversation_id=cid, sender_id=self.user_id, body=body, client_id=client_id
        )
        payload = message_json(message)
        await self.channel_layer.group_send(
            f"conv.{cid}", {"type": "chat.message", "message": payload, "sender_channel": self.channel_name}
        )
        await self.send_json({"type": "ack", "ref": ref, "data": {"message": payload}})

    async def chat_message(self, event):
        if event["sender_channel"] != self.channel_name:
            message = event["message"]
            await self.send_json({"type": "message.new", "data": {"conversation_id": message["conversation_id"], "message": message}})
