"""The data directory's layout: one place names every file kubelite keeps.

Everything a cluster owns lives under one directory (default `~/.kubelite`),
mode 0700; secrets and the database are 0600. Several clusters run side by
side by giving each its own directory.
"""

from __future__ import annotations

import errno
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = Path.home() / ".kubelite"


@dataclass(frozen=True)
class DataDir:
    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike[str] | None) -> DataDir:
        return cls(Path(path).expanduser().resolve() if path else DEFAULT_DIR)

    @property
    def db(self) -> Path:
        return self.root / "state.db"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def token_file(self) -> Path:
        return self.root / "token"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def state(self) -> Path:
        """Written once the cluster is ready: pid and every listener's address."""
        return self.root / "kubelite.json"

    @property
    def log(self) -> Path:
        return self.root / "kubelite.log"

    @property
    def lock(self) -> Path:
        return self.root / "kubelite.lock"

    @property
    def service_ip(self) -> Path:
        """The `kubernetes` Service's address, picked at first start (`service_ip.py`)."""
        return self.root / "service-ip"

    @property
    def dns_address(self) -> Path:
        """The cluster DNS's address, kept for the pods that outlive a restart."""
        return self.root / "dns-address"

    @property
    def traces_db(self) -> Path:
        return self.root / "traces.db"

    def ensure(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(
                errno.ENOTDIR, "not a directory (the data dir must be one)", str(self.root)
            )
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    def token(self) -> str:
        """The bearer token, made at first start and kept."""
        if self.token_file.exists():
            return self.token_file.read_text().strip()
        value = secrets.token_urlsafe(32)
        write_private(self.token_file, value + "\n")
        return value


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
