"""After the shim dies, the agent's reconnect and pod workers' calls start one shim."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kubelite.kubelet.runtime import ShimRuntime


def test_concurrent_connects_start_one_shim(tmp_path: Path) -> None:
    runtime = ShimRuntime(tmp_path)
    spawned: list[int] = []
    up = {"shim": False}

    async def fake_open() -> bool:
        await asyncio.sleep(0.01)
        return up["shim"]

    def fake_spawn() -> None:
        spawned.append(1)
        up["shim"] = True

    async def fake_call(request: dict[str, Any]) -> dict[str, Any]:
        return {"containers": {"c1": {}}}

    runtime._open = fake_open  # type: ignore[method-assign]
    runtime._spawn = fake_spawn  # type: ignore[method-assign]
    runtime._call_inline = fake_call  # type: ignore[method-assign]

    async def main() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(runtime.connect() for _ in range(3))))

    listings = asyncio.run(main())
    assert spawned == [1]
    assert sorted(len(x) for x in listings) == [0, 0, 1]  # one caller gets the listing


def test_a_shim_that_hangs_up_while_answering_is_an_os_error(tmp_path: Path) -> None:
    runtime = ShimRuntime(tmp_path)

    async def fake_open() -> bool:
        return True

    async def hang_up(request: dict[str, Any]) -> dict[str, Any]:
        raise EOFError("shim closed the connection")

    runtime._open = fake_open  # type: ignore[method-assign]
    runtime._call_inline = hang_up  # type: ignore[method-assign]
    with pytest.raises(OSError, match="shim closed the connection"):
        asyncio.run(runtime.connect())
