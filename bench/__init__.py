"""The dedwen benchmark suite: one command (bin/bench) measures R, B and dedwen with one client."""
