"""Stopping the kernel proxy mid-sync leaves no table behind.

A stand-in for `nft` records what it applies: the real one's transaction lands
when it has read its script, which can be after the proxy was cancelled and
had already deleted the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from kubelite.proxy.nftables import NftablesProxy


def fake_nft(tmp_path: Path) -> tuple[Path, Path]:
    journal = tmp_path / "journal"
    go = tmp_path / "go"
    script = tmp_path / "nft"
    # Reads its script, then waits for `go` before it "commits": a sync in flight.
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = -j ] && exit 1\n'  # the first sync's look for a table left behind: none
        "input=$(cat)\n"
        'case "$input" in\n'
        f'  *"delete table"*"{{"*) while [ ! -e {go} ]; do sleep 0.01; done; echo applied >> {journal} ;;\n'
        f"  *) echo removed >> {journal} ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return script, journal


def test_a_sync_cancelled_in_flight_does_not_put_the_table_back(tmp_path: Path) -> None:
    script, journal = fake_nft(tmp_path)
    proxy = NftablesProxy("kubelite-test")
    proxy.nft = str(script)

    async def main() -> None:
        sync = asyncio.create_task(proxy.sync([]))
        await asyncio.sleep(0.05)  # the stand-in has its script and waits to commit
        sync.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sync
        proxy.remove()  # as the component's `finally` does
        (tmp_path / "go").touch()  # a still-running nft would commit now

    asyncio.run(main())
    # A stand-in left running would write "applied" right after `go`: give it the chance.
    for _ in range(50):
        if "applied" in journal.read_text():
            break
        time.sleep(0.01)
    lines = journal.read_text().split()
    assert lines == ["removed"]
