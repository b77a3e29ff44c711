"""Whether a local TCP address accepts connections, asked of the kernel's socket table.

A tcpSocket probe asks "would a connect to ip:port succeed?". Pods share the
host's network, so the kernel can answer without a connection: a
NETLINK_SOCK_DIAG lookup finds the socket a SYN to ip:port would reach (one
bound to the address, or to 0.0.0.0, or a dual-stack ::) with its accept
queue (`idiag_rqueue`) and that queue's limit (`idiag_wqueue`); the kernel
drops the SYN once the queue is over its limit. The lookup costs ~3 µs where
a connect costs ~30–60 µs on loopback and wakes the pod's process, which at
100 pods probed every second is most of an idle node's CPU.

Only "listening, with room" is taken from the kernel. Anything else (no
listener, a full queue, a machine without sock_diag) falls back to a real
connect, so failures and their messages are exactly a connect's. One
difference from the kubelet remains: a probe answered here leaves nothing in
the app's accept queue, where a kubelet's connects pile up in the queue of
an app that stopped accepting until they fill it. The request and reply
layouts are the kernel's stable ABI (linux/inet_diag.h, linux/netlink.h).

The node agent's connect supervisor (`podbind`) asks a narrower question of
the same table: is there a socket bound to this very address (not a
wildcard) and port, a TCP listener or an unconnected UDP socket, i.e. does
the pod whose IP it is serve that port? A UDP lookup names the address as
the datagram's destination (udp_diag looks sockets up as a packet's
receiver), a TCP one as the listener's source (inet_diag).
"""

from __future__ import annotations

import errno
import itertools
import socket
import struct
from dataclasses import dataclass

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLMSG_ERROR = 2
TCP_LISTEN = 10
NO_COOKIE = 0xFFFFFFFF
REPLY_TIMEOUT_S = 1.0

_NLMSG = struct.Struct("=IHHII")  # len, type, flags, seq, pid
# inet_diag_req_v2 for one socket: family, protocol, ext, pad, states; then the
# socket id: sport and dport (big-endian), src[16], dst[16], interface, cookie[2].
# A SYN from nowhere to ip:port is looked up as the TCP socket with source
# ip:port; a datagram to ip:port as the UDP socket it would reach (dst ip:port).
_REQUEST_HEAD = struct.Struct("=BBBBI")
_PORTS = struct.Struct(">HH")
_REQUEST_TAIL = struct.Struct("=III").pack(0, NO_COOKIE, NO_COOKIE)
_ALL_STATES = 0xFFFFFFFF
# inet_diag_msg: family, state, timer, retrans, the socket id (sport, dport, src[16],
# dst[16], interface, cookie[2]), expires, rqueue, wqueue.
_REPLY = struct.Struct("=BB2x 4x16s16x4x8x 4xII")
_ERROR = struct.Struct("=i")
_V4_MAPPED = bytes(10) + b"\xff\xff"


@dataclass(frozen=True)
class _Found:
    """The socket a lookup found: its state, its own address (16 bytes, an IPv4
    address in the first 4 for AF_INET) and its accept queue with the queue's limit."""

    family: int
    state: int
    address: bytes
    rqueue: int
    wqueue: int

    def bound_to(self, packed: bytes) -> bool:
        """Whether the socket is bound to the IPv4 address `packed` itself (or, an IPv6
        socket, to its IPv4-mapped form): not to a wildcard."""
        if self.family == socket.AF_INET:
            return self.address[:4] == packed
        return self.address == _V4_MAPPED + packed


class Listeners:
    """Lookups of local listening sockets over one netlink socket, opened on first use."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._seq = itertools.count(1)
        self.available = True  # False once the kernel refused sock_diag: connect instead
        self._udp = True  # False once the kernel refused udp_diag (a module it may lack)

    def accepting(self, ip: str, port: int) -> bool:
        """True when a connect to `ip:port` (IPv4) would be accepted now; False means
        "not known": ask with a real connect."""
        if not self.available:
            return False
        found = self._find(ip, port, socket.IPPROTO_TCP)
        return found is not None and found.state == TCP_LISTEN and found.rqueue <= found.wqueue

    def bound(self, ip: str, port: int, *, udp: bool = False) -> bool:
        """True when a socket bound to `ip:port` (IPv4) itself, not to a wildcard,
        listens there (TCP) or takes datagrams there (UDP, unconnected); False means
        none, or "not known"."""
        if not (self._udp if udp else self.available):
            return False
        found = self._find(ip, port, socket.IPPROTO_UDP if udp else socket.IPPROTO_TCP)
        if found is None or not found.bound_to(socket.inet_aton(ip)):
            return False
        return udp or found.state == TCP_LISTEN

    def _find(self, ip: str, port: int, protocol: int) -> _Found | None:
        try:
            return self._lookup(socket.inet_aton(ip), port, protocol)
        except (OSError, struct.error, ValueError):
            self._close()
            if protocol == socket.IPPROTO_UDP:
                self._udp = False
            else:
                self.available = False
            return None

    def _lookup(self, addr: bytes, port: int, protocol: int = socket.IPPROTO_TCP) -> _Found | None:
        if self._sock is None:
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
            self._sock.settimeout(REPLY_TIMEOUT_S)  # the loop's thread never waits long
        seq = next(self._seq) & 0xFFFFFFFF
        if protocol == socket.IPPROTO_UDP:
            head = _REQUEST_HEAD.pack(socket.AF_INET, protocol, 0, 0, _ALL_STATES)
            body = head + _PORTS.pack(0, port) + bytes(16) + addr.ljust(16, b"\0")
        else:
            head = _REQUEST_HEAD.pack(socket.AF_INET, protocol, 0, 0, 1 << TCP_LISTEN)
            body = head + _PORTS.pack(port, 0) + addr.ljust(16, b"\0") + bytes(16)
        body += _REQUEST_TAIL
        header = _NLMSG.pack(_NLMSG.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, seq, 0)
        self._sock.send(header + body)
        while True:
            data = self._sock.recv(4096)
            _, kind, _, got, _ = _NLMSG.unpack_from(data)
            if got == seq:
                break  # not an answer to an earlier request
        if kind == NLMSG_ERROR:
            (code,) = _ERROR.unpack_from(data, _NLMSG.size)
            if code in (0, -errno.ENOENT):
                return None  # nothing there: the connect will say what
            raise OSError(-code, "sock_diag lookup refused")
        return _Found(*_REPLY.unpack_from(data, _NLMSG.size))

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


LISTENERS = Listeners()
