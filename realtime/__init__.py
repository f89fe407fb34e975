"""The real-time kernel, which imports no other app: socket apps plug into it (realtime.registry)."""
