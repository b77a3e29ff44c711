"""CrashLoopBackOff: how long a failed container waits before its next start.

As upstream: the first restart is immediate and arms a delay of `base`
seconds; each later restart doubles it up to `cap`; a container that ran
clean for 2 x cap (10 minutes by default) starts over at `base`. Pure state
keyed by container; the caller passes the time. The image puller's back-off
(ImagePullBackOff) is the same state, keyed by pod and image, each failed
pull counting as a restart.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Entry:
    delay: float
    last_update: float


class Backoff:
    def __init__(self, base: float = 10.0, cap: float = 300.0) -> None:
        self.base = base
        self.cap = cap
        self._entries: dict[str, _Entry] = {}

    def current(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def remaining(self, key: str, *, finished_at: float, now: float) -> float:
        """Seconds still to wait after a container finished at `finished_at`."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, now):
            return 0.0
        return max(0.0, finished_at + entry.delay - now)

    def since_update(self, key: str, now: float) -> float:
        """Seconds left of the delay counted from its last update (upstream's
        IsInBackOffSinceUpdate, as the image puller asks it); 0 when none is."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, now):
            return 0.0
        return max(0.0, entry.last_update + entry.delay - now)

    def restarted(self, key: str, now: float) -> None:
        """Record a restart: arm or double the delay."""
        entry = self._entries.get(key)
        if entry is None or self._expired(entry, now):
            self._entries[key] = _Entry(self.base, now)
        else:
            entry.delay = min(entry.delay * 2, self.cap)
            entry.last_update = now

    def forget(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def _expired(self, entry: _Entry, now: float) -> bool:
        return now - entry.last_update > 2 * self.cap


def go_duration(seconds: float) -> str:
    """Go's time.Duration String for whole seconds: 10s, 1m20s, 5m0s."""
    total = round(seconds)
    hours, rem = divmod(total, 3600)
    minutes, secs = divmod(rem, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    return f"{secs}s"
