"""Pods bind and connect from their own IP: `0.0.0.0:8080` in a pod means `$POD_IP:8080`,
a connection the pod opens to this machine comes from `$POD_IP`, and `localhost` in
a pod is the pod.

Pods share this machine's network namespace. On a cluster each pod has a
network of its own, so an app listens on all addresses (`0.0.0.0`, `::`, or
`python -m http.server`'s default) and two replicas never meet; here two
replicas doing so would collide on the same port. So each container's
`bind` calls are watched, as gVisor or a seccomp-notify supervisor watch
them: the container's process installs a seccomp filter, just before exec,
that stops every IPv4- or IPv6-sized `bind` (the filter cannot read the
address: it only sees its length) and hands it to the runtime (the shim).
The runtime reads the address from the process's memory; a wildcard address
with a port is bound, on a duplicate of the process's socket, to the pod's
IP (an IPv6 socket that also takes IPv4 gets `::ffff:<pod IP>`); anything
else continues as the process asked. The app sees its bind succeed, and
`getsockname` tells the truth.

`connect` is stopped the same way, so that a pod's connections carry its pod
IP as their source, as on a cluster: the server sees which pod called, a
Service's ClientIP affinity tells pods apart, an ingress allowlist sees the
pod. The kernel would pick 127.0.0.1 for every unbound socket dialling a
loopback address (pods, Services, the API server and the cluster DNS all
live in 127.0.0.0/8); so when a TCP or UDP socket that is not bound yet
connects to such an address, its duplicate is bound to the pod's IP with
port 0 (an ephemeral port, as the kernel would choose) before the connect
goes on. Connections elsewhere, and sockets the app bound itself, are left
as they are; so are datagrams sent with `sendto` on an unconnected socket,
which the filter does not stop.

A pod's `localhost` is the pod itself on a cluster: its containers share a
network namespace, so a sidecar, an exec probe or `kubectl exec` reaches the
app on `localhost:8080`. Here the app listens on its pod IP, and 127.0.0.1
is the machine's (the API server, host services). So a TCP or UDP connect to
the pod's localhost (127.0.0.1, `::1`, `::ffff:127.0.0.1`) on a port where
the pod has a listener of that protocol (a socket bound to the pod's IP
itself, as the kernel's socket table tells: `listeners.Listeners.bound`) is
made by the runtime to the pod's IP instead, as a stand-in's connect is below
(IPv4-mapped from an IPv6 socket that also takes IPv4; at the port's stand-in
where the pod's bind took one). Where the pod has none the connect goes on as
asked, so a host service on localhost still answers. Of 127.0.0.0/8 only
127.0.0.1 is the pod's: the rest holds the pod IPs, the Services, the cluster
DNS and the host's own (a `nameserver 127.0.0.53` copied by `dnsPolicy:
Default` must stay the host's).

A bind of the pod's localhost with a port (`127.0.0.1:9090`, `[::1]:9090`)
goes to the pod's IP too, as a wildcard's does. On a cluster such a port is
private to the pod; here it would be the machine's, and two replicas binding
it would collide (EADDRINUSE). On the pod's IP replicas never meet, the
redirect above finds it from the pod's own processes, and it is no less
private than 127.0.0.1 was (every process on this machine reaches both).
Services and httpGet or tcpSocket probes, which dial the pod's IP, then reach
it too, where a cluster's would be refused (port-forward, which dials the
pod's localhost on a cluster, reaches it on both). An IPv6 socket takes the
IPv4-mapped pod IP only if it also takes IPv4; an IPv6-only one keeps `::1`
(IPv6 has one loopback address, no pod's), and so does one whose mapped
address the pod already holds on that port (it bound 127.0.0.1 too, which
upstream allows beside `::1`). Port 0 (any free port) is left alone: it
cannot collide.

Where kubelite may not bind ports below 1024 (no root), its Services and
cluster DNS answer such a port on `port + lowports.OFFSET` at the same address
(`kubelite.api.lowports`). A TCP connect to a loopback address's port below
1024 that nothing listens on, where the same address listens on the stand-in,
is made by the runtime, on the duplicate, to the stand-in: the pod reaches the
Service on the port it asked for (`getpeername` tells the stand-in). A blocking
caller waits, stopped, until that connect completes, as it would in the kernel.
A pod's own bind of such a port (the wildcard or its pod IP) takes the stand-in
the same way (`getsockname` tells it), so an app may listen on port 80 as on a
cluster; kubelite dials pods there (`lowports.pod_port`), other pods through
the connect rule above.

The filter is installed only where the process may (root, or root in its
user namespace); elsewhere binds and connects are left alone, as before. Only
`bind` and `connect` are stopped: every other system call runs at full speed.
A stopped connect to anywhere but this machine's loopback addresses costs a
read of the caller's memory; one to a loopback address also a duplicate of
its socket, and one to the pod's localhost one socket-table lookup (~3 µs).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import functools
import ipaddress
import logging
import os
import platform
import select
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from kubelite.api import lowports
from kubelite.kubelet.listeners import Listeners

log = logging.getLogger(__name__)

# linux/seccomp.h and linux/filter.h
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif): 80 bytes
NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp): 24 bytes
NOTIF_ID_VALID = 0x40082102  # _IOW('!', 2, __u64)
_NOTIF = struct.Struct("=QII iI Q 6Q")  # id, pid, flags, data: nr, arch, ip, args
_RESP = struct.Struct("=QqiI")  # id, val, error, flags
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06
SYS_PIDFD_GETFD = 438  # the same number on every architecture

SOCKADDR_IN_LEN, SOCKADDR_IN6_LEN = 16, 28


@dataclass(frozen=True)
class _Arch:
    audit: int  # AUDIT_ARCH_*
    seccomp: int  # __NR_seccomp
    bind: int  # __NR_bind
    connect: int  # __NR_connect


_ARCHES = {
    "x86_64": _Arch(0xC000003E, 317, 49, 42),
    "aarch64": _Arch(0xC00000B7, 277, 200, 203),
}


class _Filter(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def program(arch: int, bind_nr: int, connect_nr: int) -> bytes:
    """The filter: a `bind` or `connect` of an IPv4 or IPv6 address's length goes to
    the runtime (both take the address's length as their third argument)."""

    def op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("=HBBI", code, jt, jf, k)

    return b"".join(
        (
            op(BPF_LD_W_ABS, 4),  # 0: seccomp_data.arch
            op(BPF_JEQ_K, arch, 0, 7),  # 1: another ABI: allow
            op(BPF_LD_W_ABS, 0),  # 2: seccomp_data.nr
            op(BPF_JEQ_K, bind_nr, 1, 0),  # 3: bind: look at the length
            op(BPF_JEQ_K, connect_nr, 0, 4),  # 4: neither bind nor connect: allow
            op(BPF_LD_W_ABS, 32),  # 5: the low word of args[2], the address length
            op(BPF_JEQ_K, SOCKADDR_IN_LEN, 1, 0),  # 6
            op(BPF_JEQ_K, SOCKADDR_IN6_LEN, 0, 1),  # 7
            op(BPF_RET_K, SECCOMP_RET_USER_NOTIF),  # 8
            op(BPF_RET_K, SECCOMP_RET_ALLOW),  # 9
        )
    )


@functools.cache
def _prepared() -> tuple[Callable[..., int], int, ctypes.Array[ctypes.c_char], _Filter] | None:
    """Everything the child needs, made in the runtime before it forks (none on
    machines without user notification)."""
    arch = _ARCHES.get(platform.machine())
    try:
        with open("/proc/sys/kernel/seccomp/actions_avail") as f:
            actions = f.read().split()
    except OSError:
        return None
    if arch is None or "user_notif" not in actions:
        return None
    code = program(arch.audit, arch.bind, arch.connect)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _Filter(len(code) // 8, ctypes.addressof(buf))
    return _syscall(), arch.seccomp, buf, prog


def available() -> bool:
    return _prepared() is not None


def warm() -> None:
    """Make the filter before forking, so that the child only installs it."""
    _prepared()


def install() -> int:
    """In the container's process, last before exec: the filter's listener, or -1
    when this process may not install one (then its binds are its own)."""
    prepared = _prepared()
    if prepared is None:
        return -1
    syscall, nr, _, prog = prepared
    fd = syscall(
        ctypes.c_long(nr),
        ctypes.c_long(SECCOMP_SET_MODE_FILTER),
        ctypes.c_long(SECCOMP_FILTER_FLAG_NEW_LISTENER),
        ctypes.byref(prog),
    )
    return int(fd) if fd >= 0 else -1


# ---- the runtime's side --------------------------------------------------------------------


def target(raw: bytes, pod_ip: str, dual_stack: Callable[[], bool]) -> tuple[object, ...] | None:
    """Where a bind of the address `raw` (a sockaddr) should go instead, or None
    to let it be: a wildcard or the pod's localhost, with a port, goes to the pod's
    IP. `dual_stack` says whether an IPv6 socket also takes IPv4."""
    if len(raw) < 2:
        return None
    family = struct.unpack_from("=H", raw)[0]
    if family == socket.AF_INET and len(raw) >= SOCKADDR_IN_LEN:
        port = struct.unpack_from("!H", raw, 2)[0]
        if port and raw[4:8] in _OURS4:
            return (pod_ip, port)
    elif family == socket.AF_INET6 and len(raw) >= SOCKADDR_IN6_LEN:
        port, flowinfo = struct.unpack_from("!HI", raw, 2)
        scope = struct.unpack_from("=I", raw, 24)[0]
        if port and raw[8:24] in _OURS6 and dual_stack():
            return (f"::ffff:{pod_ip}", port, flowinfo, scope)
    return None


def source(raw: bytes, pod_ip: str, dual_stack: Callable[[], bool]) -> tuple[object, ...] | None:
    """The local address an unbound socket connecting to `raw` (a sockaddr) should
    have, or None to leave it to the kernel: the pod's IP for a destination on this
    machine's loopback network (IPv4, or IPv4-mapped on a dual-stack IPv6 socket)."""
    if len(raw) < 2:
        return None
    family = struct.unpack_from("=H", raw)[0]
    if family == socket.AF_INET and len(raw) >= SOCKADDR_IN_LEN and raw[4] == 127:
        return (pod_ip, 0)
    mapped = len(raw) >= SOCKADDR_IN6_LEN and raw[8:20] == _V4_MAPPED and raw[20] == 127
    if family == socket.AF_INET6 and mapped and dual_stack():
        return (f"::ffff:{pod_ip}", 0, 0, 0)
    return None


def stand_in(
    raw: bytes, listening: Callable[[str, int], bool], dual_stack: Callable[[], bool]
) -> tuple[object, ...] | None:
    """Where a TCP connect to `raw` (a sockaddr) goes instead, or None to let it be:
    a loopback address's port below 1024 that nothing listens on, where the same
    address listens on the port's stand-in (`lowports`)."""
    if len(raw) < SOCKADDR_IN_LEN:
        return None
    family, port = struct.unpack_from("=H", raw)[0], struct.unpack_from("!H", raw, 2)[0]
    other = lowports.listen_port(port)
    if other == port:
        return None  # (where kubelite may bind it, nothing takes a stand-in)
    if family == socket.AF_INET and raw[4] == 127:
        ip = socket.inet_ntoa(raw[4:8])
        mapped = False
    elif family == socket.AF_INET6 and len(raw) >= SOCKADDR_IN6_LEN and raw[8:20] == _V4_MAPPED:
        if raw[20] != 127:
            return None
        ip, mapped = socket.inet_ntoa(raw[20:24]), True
    else:
        return None
    if listening(ip, port) or not listening(ip, other):
        return None
    if mapped:
        return (f"::ffff:{ip}", other, 0, 0) if dual_stack() else None
    return (ip, other)


def to_self(
    raw: bytes,
    pod_ip: str,
    serving: Callable[[str, int], bool],
    dual_stack: Callable[[], bool],
) -> tuple[object, ...] | None:
    """Where a connect to `raw` (a sockaddr) goes instead, or None to let it be: the
    pod's localhost (127.0.0.1, ::1, ::ffff:127.0.0.1) on a port the pod serves goes
    to the pod's IP, at the port its bind took (`lowports.listen_port`). `serving`
    says whether the pod's IP has a listener on a port; an IPv6 socket needs to take
    IPv4 too (`dual_stack`), as it then dials the IPv4-mapped pod IP."""
    if len(raw) < SOCKADDR_IN_LEN:
        return None
    family, port = struct.unpack_from("=H", raw)[0], struct.unpack_from("!H", raw, 2)[0]
    if family == socket.AF_INET and raw[4:8] == _LOOPBACK4:
        ipv6 = False
    elif _loopback6(raw):
        ipv6 = True
    else:
        return None
    at = lowports.listen_port(port)
    if not port or not serving(pod_ip, at):
        return None
    if ipv6:
        return (f"::ffff:{pod_ip}", at, 0, 0) if dual_stack() else None
    return (pod_ip, at)


def _loopback6(raw: bytes) -> bool:
    """Whether `raw` is an IPv6 sockaddr of localhost: `::1` or `::ffff:127.0.0.1`."""
    if len(raw) < SOCKADDR_IN6_LEN or struct.unpack_from("=H", raw)[0] != socket.AF_INET6:
        return False
    return raw[8:24] in _LOOPBACKS6


def _own_ip(raw: bytes, pod_ip: str) -> tuple[str, int] | None:
    """The pod's IP and a port, when that is what an IPv4 bind of `raw` names (so that
    a port below 1024 can go to its stand-in too); None otherwise."""
    if len(raw) < SOCKADDR_IN_LEN or struct.unpack_from("=H", raw)[0] != socket.AF_INET:
        return None
    port = struct.unpack_from("!H", raw, 2)[0]
    if 0 < port < 1024 and socket.inet_ntoa(raw[4:8]) == pod_ip:
        return (pod_ip, port)
    return None


def _at_listen_port(where: tuple[object, ...]) -> tuple[object, ...]:
    """`where` with its port moved to its stand-in where this runtime may not bind it
    (`lowports`): as on a cluster, a pod may listen on port 80."""
    port = where[1]
    return (where[0], lowports.listen_port(port), *where[2:]) if isinstance(port, int) else where


_V4_MAPPED = bytes(10) + b"\xff\xff"
_LOOPBACK4 = socket.inet_aton("127.0.0.1")
_LOCALHOST6 = socket.inet_pton(socket.AF_INET6, "::1")
_LOOPBACKS6 = (_LOCALHOST6, _V4_MAPPED + _LOOPBACK4)
_OURS4 = (bytes(4), _LOOPBACK4)  # binds that take the pod's IP: the wildcard, localhost
_OURS6 = (bytes(16), *_LOOPBACKS6)
_INET_TYPES = (socket.SOCK_STREAM, socket.SOCK_DGRAM)
_TCP_UDP = {(socket.SOCK_STREAM, socket.IPPROTO_TCP), (socket.SOCK_DGRAM, socket.IPPROTO_UDP)}


class Listener:
    """Serves one container's stopped binds and connects on the event loop, until
    it is closed."""

    def __init__(self, fd: int, pod_ip: str) -> None:
        self.fd = fd
        self.pod_ip = str(ipaddress.IPv4Address(pod_ip))
        self._watching = False
        self._pending: dict[int, _Connecting] = {}  # connects made here, not done yet

    def watch(self, loop: object) -> None:
        add_reader = loop.add_reader  # type: ignore[attr-defined]
        add_reader(self.fd, self._serve)
        self._watching = True
        self._loop = loop

    def close(self) -> None:
        for fileno in list(self._pending):
            pending = self._forget(fileno)
            if pending is not None:
                pending.sock.close()
        if self._watching:
            self._loop.remove_reader(self.fd)  # type: ignore[attr-defined]
            self._watching = False
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _serve(self) -> None:
        buf = bytearray(_NOTIF.size)
        try:
            fcntl.ioctl(self.fd, NOTIF_RECV, buf, True)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EINTR, errno.EAGAIN):
                self._stop_if_hung_up()
                return
            log.warning("bind listener: %s", exc)
            self._stop_watching()
            return
        nid, pid, _flags, nr, _arch, _ip, fd, addr, length, *_ = _NOTIF.unpack(buf)
        try:
            if nr == _CONNECT_NR:
                redirect = self._answer_connect(nid, pid, fd, addr, length)
                if redirect is not None:
                    self._connect_for(nid, *redirect)  # it answers when connected
                    return
                error, cont = 0, True
            else:
                error, cont = self._answer(nid, pid, fd, addr, length)
        except _Gone:
            return
        except Exception:  # a bug here must not leave the caller stopped for good
            log.exception("bind listener: pid %d's call goes on as asked", pid)
            error, cont = 0, True
        self._send(nid, error, cont)

    def _send(self, nid: int, error: int, cont: bool = False) -> None:
        resp = _RESP.pack(nid, 0, error, SECCOMP_USER_NOTIF_FLAG_CONTINUE if cont else 0)
        with contextlib.suppress(OSError):  # the process went away meanwhile
            fcntl.ioctl(self.fd, NOTIF_SEND, bytearray(resp), True)

    def _answer_connect(
        self, nid: int, pid: int, fd: int, addr: int, length: int
    ) -> tuple[socket.socket, tuple[object, ...]] | None:
        """Bind the caller's socket to the pod's IP when it dials this machine unbound.
        The connect then goes on as the process asked (None), or, to the pod's own
        listener or a privileged port's stand-in, is made here: the caller's socket
        and where to."""
        raw = _read(pid, addr, length)
        if raw is None:
            return None
        self._still_valid(nid)
        sock: socket.socket | None = None

        def dual_stack() -> bool:
            nonlocal sock
            sock = sock or _their_socket(pid, fd)
            return sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0

        try:
            where = source(raw, self.pod_ip, dual_stack)
            if where is None and not _loopback6(raw):
                return None  # another machine: the kernel's choice
            sock = sock or _their_socket(pid, fd)
            if sock.type not in _INET_TYPES:
                return None
            other = self._elsewhere(raw, sock, dual_stack)
            local = sock.getsockname()
            if where is None:  # ::1: only a connect to the pod's own listener is ours
                if other is None:
                    return None
                where = (other[0], 0, 0, 0)
            if local[1] == 0:
                sock.bind(where)  # then the kernel keeps this address for the connection
            elif other is not None and not _reaches(local, other):
                return None
            if other is not None:
                redirect, sock = (sock, other), None  # the caller's socket goes on with it
                return redirect
        except OSError:
            return None  # not a socket we may touch, or already bound: the kernel decides
        finally:
            if sock is not None:
                sock.close()
        return None

    def _elsewhere(
        self, raw: bytes, sock: socket.socket, dual_stack: Callable[[], bool]
    ) -> tuple[object, ...] | None:
        """Where the runtime makes a connect of `sock` to `raw` instead: the pod's own
        listener (`to_self`), a privileged port's stand-in (TCP), or nowhere (None)."""
        kind = (sock.type, sock.proto)
        if kind in _TCP_UDP:
            udp = kind[0] == socket.SOCK_DGRAM
            serving = functools.partial(_LISTENERS.bound, udp=udp)
            home = to_self(raw, self.pod_ip, serving, dual_stack)
            if home is not None:
                return home
        if sock.type == socket.SOCK_STREAM:
            return stand_in(raw, _LISTENERS.accepting, dual_stack)
        return None

    def _connect_for(self, nid: int, sock: socket.socket, where: tuple[object, ...]) -> None:
        """Connect the caller's socket to `where` and answer its connect with the
        outcome. A blocking caller's connect is made non-blocking here and answered
        once the connection is up (or failed): the loop never waits."""
        fileno = sock.fileno()
        try:
            flags = fcntl.fcntl(fileno, fcntl.F_GETFL)
        except OSError as exc:
            sock.close()
            self._send(nid, -(exc.errno or errno.EINVAL))
            return
        blocking = not flags & os.O_NONBLOCK
        try:
            if blocking:
                fcntl.fcntl(fileno, fcntl.F_SETFL, flags | os.O_NONBLOCK)
            code = sock.connect_ex(where)
        except OSError as exc:
            code = exc.errno or errno.EINVAL
        if code != errno.EINPROGRESS or not blocking:
            self._finish(nid, sock, flags, code)
            return
        pending = _Connecting(nid, sock, flags)
        self._pending[fileno] = pending
        self._loop.add_writer(fileno, self._connected, fileno)  # type: ignore[attr-defined]
        timeout = _send_timeout(sock)
        if timeout:  # as the kernel's blocking connect under SO_SNDTIMEO
            pending.timer = self._loop.call_later(  # type: ignore[attr-defined]
                timeout, self._timed_out, fileno
            )

    def _connected(self, fileno: int) -> None:
        pending = self._forget(fileno)
        if pending is not None:
            code = pending.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            self._finish(pending.nid, pending.sock, pending.flags, code)

    def _timed_out(self, fileno: int) -> None:
        pending = self._forget(fileno)
        if pending is not None:
            self._finish(pending.nid, pending.sock, pending.flags, errno.EINPROGRESS)

    def _forget(self, fileno: int) -> _Connecting | None:
        pending = self._pending.pop(fileno, None)
        if pending is not None:
            self._loop.remove_writer(fileno)  # type: ignore[attr-defined]
            if pending.timer is not None:
                pending.timer.cancel()
        return pending

    def _finish(self, nid: int, sock: socket.socket, flags: int, code: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(sock.fileno(), fcntl.F_SETFL, flags)  # the caller's own mode back
        sock.close()
        self._send(nid, -code)

    def _answer(self, nid: int, pid: int, fd: int, addr: int, length: int) -> tuple[int, bool]:
        """(error, continue): 0 and False when bound here, 0 and True to let it be."""
        raw = _read(pid, addr, length)
        if raw is None:
            return 0, True  # cannot read it: the kernel will say what is wrong with it
        self._still_valid(nid)  # the pid was the caller's when we read its memory
        sock: socket.socket | None = None

        def dual_stack() -> bool:
            nonlocal sock
            sock = sock or _their_socket(pid, fd)
            return sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0

        try:
            try:
                where = target(raw, self.pod_ip, dual_stack)
                if where is None:
                    own = _own_ip(raw, self.pod_ip)  # taken over only for a stand-in
                    if own is None or lowports.listen_port(own[1]) == own[1]:
                        return 0, True
                    where = own
                where = _at_listen_port(where)
                sock = sock or _their_socket(pid, fd)
            except OSError:
                # Not ours to look at (a process that made itself undumpable, or
                # not a socket): the kernel runs the bind as asked, and answers it.
                return 0, True
            try:
                sock.bind(where)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE and _loopback6(raw) and raw[8:24] == _LOCALHOST6:
                    # the pod holds the port on its IPv4 side (127.0.0.1, which upstream
                    # allows beside ::1): ::1 is the app's own
                    return 0, True
                return -(exc.errno or errno.EINVAL), False
            return 0, False
        finally:
            if sock is not None:
                sock.close()

    def _still_valid(self, nid: int) -> None:
        try:
            fcntl.ioctl(self.fd, NOTIF_ID_VALID, struct.pack("=Q", nid))
        except OSError:
            raise _Gone from None

    def _stop_if_hung_up(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        if any(ev & (select.POLLHUP | select.POLLERR) for _, ev in poller.poll(0)):
            self._stop_watching()  # nobody uses the filter any more

    def _stop_watching(self) -> None:
        if self._watching:
            self._loop.remove_reader(self.fd)  # type: ignore[attr-defined]
            self._watching = False


@dataclass
class _Connecting:
    """A connect made for a blocking caller, until the connection is up or failed."""

    nid: int
    sock: socket.socket
    flags: int  # the caller's file status flags, restored before it is answered
    timer: asyncio.TimerHandle | None = None


def _reaches(local: tuple[object, ...], where: tuple[object, ...]) -> bool:
    """Whether a socket bound to `local` may connect to `where`: an IPv6 socket bound to
    an IPv6 address proper (`::1`) reaches no IPv4-mapped one."""
    if len(local) == 2 or not str(where[0]).startswith("::ffff:"):
        return True
    return local[0] == "::" or str(local[0]).startswith("::ffff:")


def _send_timeout(sock: socket.socket) -> float:
    """The socket's SO_SNDTIMEO in seconds (0: none), which bounds a blocking connect."""
    seconds, micros = struct.unpack(
        "@ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16)
    )
    return seconds + micros / 1e6


_LISTENERS = Listeners()  # the kernel's socket table, asked which stand-ins listen


class _Gone(Exception):
    """The bind's caller was killed before it got an answer."""


def _read(pid: int, addr: int, length: int) -> bytes | None:
    """The sockaddr the caller passed, read from its memory (None if it cannot be)."""
    try:
        with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
            return os.pread(mem.fileno(), min(length, 128), addr)
    except OSError:
        return None


_arch = _ARCHES.get(platform.machine())
_CONNECT_NR = _arch.connect if _arch is not None else -1


def _their_socket(pid: int, fd: int) -> socket.socket:
    """A duplicate of the caller's socket `fd`: binding it binds theirs."""
    pidfd = _pidfd(pid)
    try:
        dup = _syscall()(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if dup < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(pidfd)
    return socket.socket(fileno=dup)


def _pidfd(tid: int) -> int:
    """A pidfd for the thread `tid`'s process (pidfd_open takes only a process's id)."""
    try:
        return os.pidfd_open(tid)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):  # kernels differ in which
            raise
    with open(f"/proc/{tid}/status") as f:
        for line in f:
            if line.startswith("Tgid:"):
                return os.pidfd_open(int(line.split()[1]))
    raise OSError(errno.ESRCH, os.strerror(errno.ESRCH))


@functools.cache
def _syscall() -> Callable[..., int]:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall  # type: ignore[no-any-return]
