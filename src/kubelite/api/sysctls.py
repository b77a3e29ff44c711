"""Sysctls as Kubernetes knows them: valid names, the Linux namespace each belongs
to, and the safe set (the kubelet's SafeSysctlAllowlist, which the Pod Security
baseline standard also allows), by the release that made each one safe."""

from __future__ import annotations

import re

MAX_LENGTH = 253
_SEGMENT = "[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
PATTERN = "^(" + _SEGMENT + "[\\./])*" + _SEGMENT + "$"
_NAME = re.compile(PATTERN)
_IPC = frozenset(
    {
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
    }
)
# minor release -> the sysctls it made safe
SAFE_SINCE: dict[int, frozenset[str]] = {
    0: frozenset(
        {
            "kernel.shm_rmid_forced",
            "net.ipv4.ip_local_port_range",
            "net.ipv4.tcp_syncookies",
            "net.ipv4.ping_group_range",
            "net.ipv4.ip_unprivileged_port_start",
        }
    ),
    27: frozenset({"net.ipv4.ip_local_reserved_ports"}),
    29: frozenset(
        {
            "net.ipv4.tcp_keepalive_time",
            "net.ipv4.tcp_fin_timeout",
            "net.ipv4.tcp_keepalive_intvl",
            "net.ipv4.tcp_keepalive_probes",
        }
    ),
    32: frozenset({"net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}),
}


def valid_name(name: str) -> bool:
    return len(name) <= MAX_LENGTH and _NAME.match(name) is not None


def namespace(name: str) -> str:
    """utilsysctl.GetNamespace: "ipc", "net" or "" (not namespaced)."""
    name = name.replace("/", ".")
    if name in _IPC or name.startswith("fs.mqueue."):
        return "ipc"
    return "net" if name.startswith("net.") else ""


def safe(minor: int) -> frozenset[str]:
    """The sysctls safe as of release 1.`minor`."""
    return frozenset().union(*(names for since, names in SAFE_SINCE.items() if minor >= since))
