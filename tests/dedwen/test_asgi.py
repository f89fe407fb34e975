"""The serving entry point: what importing dedwen.asgi sets up in the process that serves."""

from __future__ import annotations

import subprocess
import sys

from tests.support.server import child_env


def test_what_the_serving_process_loaded_is_kept_out_of_the_collectors_passes():
    # A full pass of the cyclic collector walked every object Django and the apps loaded: 57-87 ms
    # per pass on the bench machine, a pause every socket of the process waited through.
    child = subprocess.run(
        [sys.executable, "-c", "import gc, dedwen.asgi; print(gc.get_freeze_count())"],
        env=child_env({}), capture_output=True, text=True, timeout=60, check=True,
    )
    assert int(child.stdout) > 50_000
