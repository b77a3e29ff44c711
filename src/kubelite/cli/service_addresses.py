"""Service addresses shared by every cluster running on this machine.

A real cluster has its Service range and node ports to itself. Clusters on one
machine share them: the kernel proxy's rules (and a userspace proxy's
listeners) for `127.96.200.200:80` or node port 30080 serve every process on the
machine, so two clusters holding the same address send each other's clients to
their own pods, silently. The `kubernetes` Service address and the DNS address
are already claimed machine-wide (`service_ip`); this module does the same for
the addresses a cluster's Services hold: each running cluster publishes its
Services' cluster IPs and node ports in a file of its own, and the allocator of
every other cluster counts them as taken (a dynamic pick avoids them, an asked-for
one is refused as already allocated, in upstream's words).

A file names its writer's pid and start time; a file whose process is gone
(a crashed cluster) counts for nothing, and a clean stop removes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kubelite.api.registry import REGISTRY
from kubelite.apiserver.service_ips import Taken, taken_by
from kubelite.cli.service_ip import claims_dir
from kubelite.store import Store, WatchClosed

log = logging.getLogger(__name__)

SERVICE = REGISTRY.by_kind("v1", "Service")
NOTHING = Taken(frozenset(), frozenset())


def addresses_dir() -> Path:
    """Beside the `kubernetes` Service address claims: machine-wide for root, else per user."""
    return claims_dir().parent / "service-addresses"


def process_start(pid: int) -> str:
    """Field 22 of /proc/PID/stat (its start time in ticks): "" when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


class ServiceAddresses:
    """This cluster's published addresses, and the other running clusters'."""

    def __init__(self, data_dir: Path, directory: Path | None = None) -> None:
        self.dir = directory or addresses_dir()
        self.data_dir = str(data_dir.resolve())
        # one file per data dir (one cluster runs in it at a time): a restart
        # after a crash replaces its own
        name = hashlib.sha256(self.data_dir.encode()).hexdigest()[:16]
        self.file = self.dir / f"{name}.json"
        self._pid = os.getpid()
        self._start = process_start(self._pid)

    def publish(self, services: Iterable[dict[str, Any]]) -> None:
        taken = taken_by(services)
        record = {
            "pid": self._pid,
            "start": self._start,
            "dataDir": self.data_dir,
            "clusterIPs": sorted(taken.ips),
            "nodePorts": sorted(taken.node_ports),
        }
        try:
            self.dir.mkdir(mode=0o755, parents=True, exist_ok=True)
            tmp = self.file.with_name(f".{self.file.name}.{self._pid}")
            tmp.write_text(json.dumps(record) + "\n")
            os.replace(tmp, self.file)
        except OSError as exc:  # the others then cannot see ours: say so, carry on
            log.warning("cannot publish this cluster's Service addresses in %s: %s", self.dir, exc)

    def withdraw(self) -> None:
        with contextlib.suppress(OSError):
            if json.loads(self.file.read_text()).get("pid") == self._pid:
                self.file.unlink()

    def taken_elsewhere(self) -> Taken:
        """What the other running clusters' Services hold."""
        ips: set[str] = set()
        ports: set[int] = set()
        try:
            files = [f for f in self.dir.iterdir() if f.suffix == ".json" and f != self.file]
        except OSError:
            return NOTHING
        for path in files:
            try:
                record = json.loads(path.read_text())
                pid = int(record["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # half written by hand, or being replaced: skip it
            if not record.get("start") or process_start(pid) != record["start"]:
                continue  # its cluster is not running
            ips.update(str(ip) for ip in record.get("clusterIPs") or [])
            ports.update(int(p) for p in record.get("nodePorts") or [])
        return Taken(frozenset(ips), frozenset(ports))


class ServiceAddressPublisher:
    """Keeps this cluster's file current: written now, then after each Service write."""

    name = "service-addresses"

    def __init__(self, addresses: ServiceAddresses, store: Store) -> None:
        self.addresses = addresses
        self.store = store

    def publish_now(self) -> int:
        assert SERVICE is not None
        items, revision, _ = self.store.list(SERVICE.prefix())
        self.addresses.publish(kv.obj() for kv in items)
        return revision

    async def run(self, client: Any, ready: asyncio.Event) -> None:
        assert SERVICE is not None
        try:
            while True:
                watcher = self.store.watch(SERVICE.prefix(), after_revision=self.publish_now())
                ready.set()
                try:
                    async for _ in watcher:
                        while watcher.next_nowait() is not None:
                            pass  # a burst of writes: one rewrite
                        self.publish_now()
                    return  # the store closed
                except WatchClosed:  # fell behind: read them all again, once the loop turns
                    await asyncio.sleep(0.1)
                finally:
                    watcher.close()
        finally:
            self.addresses.withdraw()


__all__ = ["ServiceAddressPublisher", "ServiceAddresses", "addresses_dir", "process_start"]
