"""The pod's /etc/hosts, as the kubelet manages it.

Every container of a pod sees the same hosts file: localhost, the pod's IP
under its host name (fully qualified when the pod has a subdomain), and the
pod's `hostAliases`. So `socket.gethostbyname(socket.gethostname())` answers
the pod IP inside a pod, as it does on a cluster. A hostNetwork pod gets the
machine's own hosts file with its aliases added. A container that mounts a
volume at /etc/hosts keeps it.

As upstream's kubelet writes it on every container creation, the file is
brought up to date whenever a container starts (a pod set up again after a
restart of kubelite may have another IP): rewritten in place, since running
containers see it through a bind mount of its inode.

The pod's `/etc/hostname` is written beside it, as containerd writes its
sandbox's `hostname` file: the pod's host name (`spec.hostname`, else its
name), or the machine's own for a hostNetwork pod.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kubelite.kubelet.atomic_writer import replace_file

Obj = dict[str, Any]
ETC_HOSTS = "/etc/hosts"
FILE_NAME = "etc-hosts"
ETC_HOSTNAME = "/etc/hostname"
HOSTNAME_FILE = "hostname"
HEADER = "# Kubernetes-managed hosts file.\n"
HOST_NETWORK_HEADER = "# Kubernetes-managed hosts file (host network).\n"
_LOCAL = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def managed_hosts(
    pod_ips: list[str], hostname: str, domain: str, aliases: list[Obj] | None = None
) -> str:
    """A pod's hosts file: `domain` is `<subdomain>.<namespace>.svc.<cluster domain>`
    for a pod with a subdomain, else empty."""
    lines = [HEADER, _LOCAL]
    for ip in pod_ips:
        lines.append(
            f"{ip}\t{hostname}.{domain}\t{hostname}\n" if domain else f"{ip}\t{hostname}\n"
        )
    lines.append(_alias_entries(aliases))
    return "".join(lines)


def host_network_hosts(host_file: str, aliases: list[Obj] | None = None) -> str:
    return HOST_NETWORK_HEADER + host_file + _alias_entries(aliases)


def _alias_entries(aliases: list[Obj] | None) -> str:
    if not aliases:
        return ""
    lines = ["\n# Entries added by HostAliases.\n"]
    for alias in aliases:
        names = "\t".join(alias.get("hostnames") or [])
        lines.append(f"{alias.get('ip', '')}\t{names}\n")
    return "".join(lines)


def ensure_file(directory: Path, name: str, data: bytes, tmp: str) -> bool:
    """Make `directory/name` hold `data`; False when it did already.

    A new file is written whole and renamed into place. An existing one is
    rewritten in place, on its own inode: containers see it through a bind
    mount of that inode, which a rename would leave on the old content.
    """
    try:
        f = open(os.path.join(directory, name), "r+b")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        replace_file(directory, name, data, tmp)
        return True
    with f:
        if f.read() == data:
            return False
        f.seek(0)
        f.write(data)
        f.truncate()
    return True


def write_pod_hosts(
    pod: Obj, pod_dir: Path, pod_ip: str, hostname: str, cluster_domain: str
) -> Path:
    """The pod's hosts file, as it should read now (written only when it does not)."""
    path = pod_dir / FILE_NAME
    spec = pod.get("spec") or {}
    aliases = spec.get("hostAliases") or []
    if spec.get("hostNetwork"):
        try:
            with open(ETC_HOSTS, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        content = host_network_hosts(text, aliases)
    else:
        subdomain = spec.get("subdomain") or ""
        ns = pod["metadata"].get("namespace", "default")
        domain = f"{subdomain}.{ns}.svc.{cluster_domain}" if subdomain else ""
        content = managed_hosts([pod_ip] if pod_ip else [], hostname, domain, aliases)
    ensure_file(pod_dir, FILE_NAME, content.encode(), "etc-hosts.tmp")
    return path


def write_pod_hostname(pod: Obj, pod_dir: Path, hostname: str) -> Path:
    """The pod's hostname file, bound over each container's /etc/hostname."""
    if (pod.get("spec") or {}).get("hostNetwork"):
        hostname = os.uname().nodename  # the sandbox shares the node's UTS namespace
    path = pod_dir / HOSTNAME_FILE
    ensure_file(pod_dir, HOSTNAME_FILE, f"{hostname}\n".encode(), "hostname.tmp")
    return path
