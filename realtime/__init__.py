"""The WebSocket side of dedwen: protocol, consumer, channel layer plumbing."""
