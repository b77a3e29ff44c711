"""The `kubernetes` Service's ClusterIP: one address per cluster running on this machine.

In-cluster clients find their API server at the `kubernetes` Service's
address. Every process on the machine meets the kernel proxy's DNAT rules
(and a userspace proxy must bind the address), so two running clusters with
the same address would send one cluster's pods to the other's API server,
where they fail TLS. So a cluster picks its address the first time its data
dir is used: `127.96.0.1` (upstream's first address of the service range)
unless a running cluster holds it, else `127.96.N.1` for the first free N; an
address another data dir keeps (its cluster is stopped, not gone) is taken only
when no other is free.
The choice is kept in the data dir (`service-ip`): the serving certificate
names it and the pods' `KUBERNETES_SERVICE_HOST` carries it.

A running cluster holds its address with an advisory lock on a file named
after it in a directory every cluster on the machine uses, so a crashed
cluster frees it at once. A data dir made before another running cluster
took the same address keeps it (the certificate and the pods depend on it);
that start says so in a warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

from kubelite.cli.datadir import DataDir

log = logging.getLogger(__name__)

DEFAULT_SERVICE_IP = "127.96.0.1"
CANDIDATES = (DEFAULT_SERVICE_IP, *(f"127.96.{n}.1" for n in range(1, 256)))


def claims_dir() -> Path:
    """Where running clusters hold their addresses: machine-wide for root, else per user."""
    if os.geteuid() == 0:
        return Path("/run/kubelite/service-ips")
    runtime = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    return Path(runtime, f"kubelite-{os.geteuid()}", "service-ips")


class ServiceIPClaim:
    """This cluster's address and the lock that holds it while the cluster runs."""

    def __init__(self, data: DataDir, claims: Path | None = None) -> None:
        self.data = data
        self.file = data.service_ip
        self.claims = claims or claims_dir()
        self.ip = ""
        self.shared_with = ""  # the other running cluster's data dir, when two hold one address
        self._fd: int | None = None

    def acquire(self) -> str:
        with contextlib.suppress(OSError):
            self.claims.mkdir(mode=0o755, parents=True, exist_ok=True)
        stored = self._stored()
        if stored:
            self.ip = stored
            if not self._lock(stored):
                self.shared_with = self._holder(stored)
                log.warning(
                    "the kubernetes Service address %s is also held by the running cluster in %s:"
                    " pods of one of the two reach the other's API server",
                    stored,
                    self.shared_with or "another data dir",
                )
            return stored
        # Addresses another data dir keeps (its cluster merely stopped) come last: it
        # comes back with that address, its certificate and its pods' settings.
        kept = [ip for ip in CANDIDATES if self._kept_elsewhere(ip)]
        order = [ip for ip in CANDIDATES if ip not in kept] + kept
        self.ip = next((ip for ip in order if self._lock(ip)), DEFAULT_SERVICE_IP)
        self.file.write_text(self.ip + "\n")
        return self.ip

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _stored(self) -> str:
        try:
            text = self.file.read_text().strip()
        except OSError:
            text = ""
        if text in CANDIDATES:
            return text
        # A data dir from before this file existed has its Service and certificate at .1.
        return DEFAULT_SERVICE_IP if self.data.db.exists() else ""

    def _lock(self, ip: str) -> bool:
        try:
            fd = os.open(self.claims / ip, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return True  # nowhere to coordinate: the address is ours as far as we can tell
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(self.data.root).encode() + b"\n")
        self.release()
        self._fd = fd
        return True

    def _kept_elsewhere(self, ip: str) -> bool:
        """Whether the last data dir to hold `ip` still exists and still names it."""
        holder = self._holder(ip)
        if not holder or holder == str(self.data.root):
            return False
        try:
            return DataDir.at(Path(holder)).service_ip.read_text().strip() == ip
        except OSError:
            return False

    def _holder(self, ip: str) -> str:
        try:
            return (self.claims / ip).read_text().strip()
        except OSError:
            return ""
