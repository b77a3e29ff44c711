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
"""

from __future__ import annotations

import errno
import itertools
import socket
import struct

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
# A SYN from nowhere to ip:port is looked up as the socket with source ip:port.
_REQUEST_HEAD = struct.Struct("=BBBBI").pack(
    socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN
)
_PORTS = struct.Struct(">HH")
_REQUEST_TAIL = bytes(12 + 16) + struct.Struct("=III").pack(0, NO_COOKIE, NO_COOKIE)
# inet_diag_msg: family, state, timer, retrans, the socket id (48 bytes), expires,
# rqueue, wqueue.
_REPLY = struct.Struct("=x B 2x 48x 4x I I")
_ERROR = struct.Struct("=i")


class Listeners:
    """Lookups of local listening sockets over one netlink socket, opened on first use."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._seq = itertools.count(1)
        self.available = True  # False once the kernel refused sock_diag: connect instead

    def accepting(self, ip: str, port: int) -> bool:
        """True when a connect to `ip:port` (IPv4) would be accepted now; False means
        "not known": ask with a real connect."""
        if not self.available:
            return False
        try:
            addr = socket.inet_aton(ip)
            return self._lookup(addr, port)
        except (OSError, struct.error, ValueError):
            self._close()
            self.available = False
            return False

    def _lookup(self, addr: bytes, port: int) -> bool:
        if self._sock is None:
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
            self._sock.settimeout(REPLY_TIMEOUT_S)  # the loop's thread never waits long
        seq = next(self._seq) & 0xFFFFFFFF
        body = _REQUEST_HEAD + _PORTS.pack(port, 0) + addr + _REQUEST_TAIL
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
                return False  # nothing there: the connect will say what
            raise OSError(-code, "sock_diag lookup refused")
        state, rqueue, wqueue = _REPLY.unpack_from(data, _NLMSG.size)
        return state == TCP_LISTEN and rqueue <= wqueue

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


LISTENERS = Listeners()
