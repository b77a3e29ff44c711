"""Cluster DNS: the CoreDNS role (records for Services and endpoints, forwarding the rest)."""

from __future__ import annotations

from kubelite.proxy.dns.records import Records
from kubelite.proxy.dns.server import ClusterDNS

__all__ = ["ClusterDNS", "Records"]
