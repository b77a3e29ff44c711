"""ListOptions: what a list or watch asks to read, checked as kube-apiserver 1.32 checks it.

The parameters (`resourceVersion`, `resourceVersionMatch`, `continue`, `limit`,
`sendInitialEvents`) are defaulted and validated before anything is read, as
the generic `ListResource` handler does: with the WatchList feature (beta and
on by default in 1.32), a watch from no resourceVersion or "0" that names
neither `sendInitialEvents` nor `resourceVersionMatch` means
`sendInitialEvents=true&resourceVersionMatch=NotOlderThan`; a bad combination
is a 422 on `ListOptions.meta.k8s.io`.

`list_revision` then says which revision a list reads at, after etcd3's store
and the watch cache: the first page of a chunked list reads now and every later
page at the revision its continue token carries; `resourceVersionMatch=Exact`
(and, as upstream's legacy rule, a `limit` with a non-zero resourceVersion)
reads at that revision; `NotOlderThan` (and no match, without a limit) reads
now, which must not be older than what was asked for.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from kubelite.api.fielderrors import FieldError, forbidden, not_supported
from kubelite.apiserver import errors, queryparams

EXACT = "Exact"
NOT_OLDER_THAN = "NotOlderThan"

# How long a read from the watch cache waits for a resourceVersion it has not seen
# (the cacher's blockTimeout), and the retry it then suggests.
TOO_LARGE_WAIT_S = 3.0
TOO_LARGE_RETRY_S = 1

EXPIRED_LIST = "The resourceVersion for the provided list is too old."
INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token "
    "in this response to retrieve the remainder of the results. Continuing with the "
    "provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may "
    "show up in the list."
)


@dataclass(frozen=True)
class ListOptions:
    resource_version: str = ""  # "" when not given
    match: str = ""  # resourceVersionMatch, "" when not given
    send_initial_events: bool | None = None
    continue_token: str = ""
    limit: int = 0
    timeout_seconds: int | None = None

    @property
    def exact(self) -> bool:
        """Whether a list reads at exactly `resource_version` (rather than now)."""
        if self.continue_token or self.resource_version in ("", "0"):
            return False
        return self.match == EXACT or (not self.match and self.limit > 0)

    @property
    def from_watch_cache(self) -> bool:
        """Whether upstream serves this list from the watch cache (which waits up to
        3 s for a resourceVersion it has not reached) rather than from etcd."""
        return not self.continue_token and not self.exact and self.match in ("", NOT_OLDER_THAN)


def parse(query: dict[str, str], *, watch: bool, limit: int = 0) -> ListOptions:
    """The options of a list (or, with `watch`, a watch) request; Invalid if forbidden."""
    # decoded first, as upstream's parameter codec does: a bad number is a 400
    timeout = queryparams.optional_int64(query, "timeoutSeconds")
    raw = query.get("sendInitialEvents")
    opts = ListOptions(
        resource_version=query.get("resourceVersion", ""),
        match=query.get("resourceVersionMatch", ""),
        # Go's *bool query conversion: anything but "0" and "false" is true.
        send_initial_events=None if raw is None else raw not in ("0", "false"),
        continue_token=query.get("continue", ""),
        limit=limit,
        timeout_seconds=timeout,
    )
    if (
        watch
        and opts.send_initial_events is None
        and not opts.match
        and opts.resource_version in ("", "0")
    ):
        # SetListOptionsDefaults with WatchList on.
        opts = ListOptions(
            resource_version=opts.resource_version,
            match=NOT_OLDER_THAN,
            send_initial_events=True,
            continue_token=opts.continue_token,
            limit=limit,
            timeout_seconds=timeout,
        )
    problems = _validate_watch(opts) if watch else _validate_list(opts)
    if problems:
        raise errors.Invalid.fields("ListOptions", "meta.k8s.io", "", problems)
    return opts


def _validate_list(opts: ListOptions) -> list[FieldError]:
    out: list[FieldError] = []
    match = opts.match
    if match:
        if not opts.resource_version:
            out.append(
                forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                )
            )
        if opts.continue_token:
            out.append(
                forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                )
            )
        if match not in (EXACT, NOT_OLDER_THAN):
            out.append(not_supported("resourceVersionMatch", match, [EXACT, NOT_OLDER_THAN, ""]))
        if match == EXACT and opts.resource_version == "0":
            out.append(
                forbidden(
                    "resourceVersionMatch",
                    'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                )
            )
    if opts.send_initial_events is not None:
        out.append(forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    return out


def _validate_watch(opts: ListOptions) -> list[FieldError]:
    out: list[FieldError] = []
    match = opts.match
    if opts.send_initial_events is not None and match != NOT_OLDER_THAN:
        out.append(
            forbidden(
                "resourceVersionMatch",
                f"sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}",
            )
        )
    if match:
        if opts.send_initial_events is None:
            out.append(
                forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents "
                    "is provided",
                )
            )
        if match != NOT_OLDER_THAN:
            out.append(not_supported("resourceVersionMatch", match, [NOT_OLDER_THAN]))
        if opts.continue_token:
            out.append(
                forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                )
            )
    return out


def revision(value: str) -> int:
    """A resourceVersion as a revision ("" and "0" are 0); BadRequest if not one."""
    if value in ("", "0"):
        return 0
    try:
        rev = int(value)
    except ValueError:
        raise errors.BadRequest(f'invalid resource version "{value}"') from None
    if rev < 0:
        raise errors.BadRequest(f'invalid resource version "{value}"')
    return rev


def list_revision(opts: ListOptions, current: int) -> int | None:
    """The revision a list without a continue token reads at: None for now.

    Raises Timeout when the request asks for a revision the store has not reached.
    """
    if opts.continue_token:
        raise ValueError("a continued list reads at its token's revision")
    rev = revision(opts.resource_version)
    if rev > current:
        retry = TOO_LARGE_RETRY_S if opts.from_watch_cache else 0
        raise errors.Timeout.too_large_resource_version(rev, current, retry)
    if opts.exact and rev:
        return rev
    return None


class _Revisioned(Protocol):
    @property
    def revision(self) -> int: ...


async def wait_for_revision(store: _Revisioned, opts: ListOptions) -> None:
    """A list upstream serves from its watch cache waits up to 3 s for the cache to
    reach the resourceVersion asked for; here that is the store reaching it."""
    if not opts.from_watch_cache:
        return
    await _wait(store, revision(opts.resource_version))


async def get_not_older_than(store: _Revisioned, resource_version: str | None) -> None:
    """A GET with a resourceVersion reads the object not older than it (upstream's
    watch cache): a bad one is refused, one not reached in 3 s is a 504."""
    if not resource_version:
        return  # the latest, as a read from etcd
    wanted = revision(resource_version)
    await _wait(store, wanted)
    if wanted > store.revision:
        raise errors.Timeout.too_large_resource_version(wanted, store.revision, TOO_LARGE_RETRY_S)


async def _wait(store: _Revisioned, wanted: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TOO_LARGE_WAIT_S
    while wanted > store.revision and loop.time() < deadline:
        await asyncio.sleep(0.05)
