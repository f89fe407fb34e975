"""A throwaway Redis Sentinel deployment on loopback: a primary, one replica and three Sentinels.

    with sentinel_deployment(tmp_path) as deployment:      # waits until the Sentinels agree
        env = deployment.dedwen_env()                      # REDIS_URL, DEDWEN_REDIS_SENTINELS, _MASTER
        deployment.kill_primary()                          # SIGKILL
        deployment.wait_for_promotion(timeout=30)          # the replica's address, once promoted

Every process is `redis-server` (`--sentinel` for the Sentinels), started on free ports in a temp
dir and killed at the end. Used by tests/operations/test_sentinel.py and bench/sentinel_failover.py.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.ports import free_port

MASTER = "dedwen"
STEP = 0.05


@dataclass
class SentinelDeployment:
    """Where the primary, the replica and the Sentinels listen, and their processes."""

    primary: int
    replica: int
    sentinels: list[int]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def dedwen_env(self) -> dict[str, str]:
        """Return the environment that points dedwen at this deployment (REDIS_URL names db 0 only)."""
        return {
            "REDIS_URL": "redis://127.0.0.1:1/0",  # host and port unused in Sentinel mode
            "DEDWEN_REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in self.sentinels),
            "DEDWEN_REDIS_MASTER": MASTER,
        }

    def master_seen(self, port: int) -> tuple[str, int] | None:
        """Return the master's address as one Sentinel reports it, or None when it cannot answer."""
        client = redis.Redis(port=port, socket_connect_timeout=1, socket_timeout=1)
        try:
            host, master_port = client.sentinel_get_master_addr_by_name(MASTER)
            return host.decode() if isinstance(host, bytes) else host, int(master_port)
        except (redis.RedisError, TypeError):
            return None
        finally:
            client.close()

    def ready(self) -> bool:
        """Return whether the replica is in sync and every Sentinel knows the replica and the others."""
        try:
            with redis.Redis(port=self.replica, socket_timeout=1) as client:
                if client.info("replication").get("master_link_status") != "up":
                    return False
            for port in self.sentinels:
                with redis.Redis(port=port, socket_timeout=1, decode_responses=True) as client:
                    state = client.sentinel_master(MASTER)
                    if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                        return False
        except redis.RedisError:
            return False
        return True

    def kill_primary(self) -> None:
        """SIGKILL the primary and reap it."""
        process = self.processes["primary"]
        process.kill()
        process.wait(timeout=10)

    def wait_for_promotion(self, *, timeout: float) -> tuple[str, int]:
        """Wait until a majority of Sentinels name the replica as master; return its address."""
        deadline = time.monotonic() + timeout
        while True:
            seen = [self.master_seen(port) for port in self.sentinels]
            if sum(address == ("127.0.0.1", self.replica) for address in seen) >= 2:
                return "127.0.0.1", self.replica
            assert time.monotonic() < deadline, f"no promotion within {timeout}s; Sentinels say {seen}"
            time.sleep(STEP)


def redis_server() -> str | None:
    """Return the redis-server binary, or None when it is not installed."""
    return shutil.which("redis-server")


def _start(name: str, args: list[str], directory: Path) -> subprocess.Popen:
    log = open(directory / f"{name}.log", "ab")
    try:
        return subprocess.Popen([redis_server(), *args], cwd=directory, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    finally:
        log.close()


def _ping(port: int) -> bool:
    try:
        with redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=0.5) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def sentinel_deployment(directory: Path, *, timeout: float = 30.0) -> Iterator[SentinelDeployment]:
    """Start the deployment in `directory`, wait (bounded) until it is ready, and kill it all at the end."""
    directory.mkdir(parents=True, exist_ok=True)
    deployment = SentinelDeployment(primary=free_port(), replica=free_port(), sentinels=[free_port() for _ in range(3)])
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
    try:
        deployment.processes["primary"] = _start("primary", ["--port", str(deployment.primary), *common], directory)
        deployment.processes["replica"] = _start(
            "replica",
            ["--port", str(deployment.replica), *common, "--replicaof", "127.0.0.1", str(deployment.primary)],
            directory,
        )
        for index, port in enumerate(deployment.sentinels):
            config = directory / f"sentinel-{index}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {deployment.primary} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 3000\n"
                f"sentinel parallel-syncs {MASTER} 1\n"
            )
            deployment.processes[f"sentinel-{index}"] = _start(f"sentinel-{index}", [str(config), "--sentinel"], directory)
        deadline = time.monotonic() + timeout
        while not (all(_ping(port) for port in (deployment.primary, deployment.replica)) and deployment.ready()):
            for name, process in deployment.processes.items():
                assert process.poll() is None, f"{name} exited: {(directory / f'{name}.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"the Sentinel deployment was not ready within {timeout}s"
            time.sleep(STEP)
        yield deployment
    finally:
        for process in deployment.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
