"""ClientIP session affinity in kernel mode, and affinity surviving later syncs.

As kube-proxy's nftables mode: one set of recent client addresses per endpoint,
consulted before the random pick; a sync empties the table in place rather than
replacing it, so the sets (and the clients in them) outlive it.
"""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from kubelite.proxy import nftables
from kubelite.proxy.nftables import NftablesProxy, Objects, chain_name, render
from kubelite.proxy.servicemap import Endpoint, ServicePort

EPS = (Endpoint("127.244.0.2", 8080), Endpoint("127.244.0.3", 8080))


def port(name: str = "web", *, affinity: int = 0, eps: tuple[Endpoint, ...] = EPS) -> ServicePort:
    return ServicePort(
        "default", name, "http", "TCP", "127.96.1.1" if name == "web" else "127.96.1.2", 80,
        affinity_timeout=affinity, endpoints=eps,
    )  # fmt: skip


def sets_of(script: str) -> list[str]:
    return [line.split()[1] for line in script.splitlines() if line.strip().startswith("set ")]


def test_affinity_checks_each_endpoints_clients_before_the_random_pick() -> None:
    script = render("kubelite-t", [port(affinity=60)])
    aff0, aff1 = sets_of(script)
    assert f"set {aff0} {{ type ipv4_addr; flags dynamic,timeout; timeout 60s; }}" in script
    svc = chain_name(port(affinity=60))
    chain = script[script.index(f"chain {svc} {{") :]
    assert chain.splitlines()[1:6] == [
        f"    ip saddr @{aff0} goto {svc}-ep0",
        f"    ip saddr @{aff1} goto {svc}-ep1",
        # the random pick, by rules (no inline map: see test_nftables_sync)
        f"    numgen random mod 2 0 goto {svc}-ep0",
        f"    goto {svc}-ep1",
        "  }",
    ]
    # the chosen endpoint's chain remembers the client (and refreshes its timeout)
    assert f"update @{aff1} {{ ip saddr }}\n    meta l4proto tcp dnat to 127.244.0.3:8080" in script


def test_without_affinity_there_are_no_sets() -> None:
    assert sets_of(render("kubelite-t", [port()])) == []


def test_a_later_sync_keeps_the_table_and_drops_only_what_went_away() -> None:
    first = render("kubelite-t", [port(affinity=60)])
    kept = render("kubelite-t", [port(affinity=60)], previous=Objects(frozenset(), frozenset()))
    assert "delete table" not in kept
    assert kept.startswith("flush table ip kubelite-t\n")
    old_sets = frozenset(sets_of(first))
    svc = chain_name(port(affinity=60))
    previous = Objects(frozenset({svc, f"{svc}-ep0", f"{svc}-ep1"}), old_sets)
    # one endpoint left: its set stays, the other one's set and chain go
    script = render("kubelite-t", [port(affinity=60, eps=EPS[:1])], previous=previous)
    assert sets_of(script) == sets_of(first)[:1]
    assert f"delete set ip kubelite-t {sets_of(first)[1]}" in script
    assert f"delete chain ip kubelite-t {svc}-ep1" in script
    assert f"delete chain ip kubelite-t {svc}\n" not in script
    # a changed timeout is a new set
    assert not set(sets_of(render("kubelite-t", [port(affinity=30)]))) & old_sets


def _nft(*args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nft", *args], input=script, capture_output=True, text=True, check=False)


def test_clients_in_the_affinity_sets_survive_a_sync(kernel: NftablesProxy) -> None:
    asyncio.run(kernel.sync([port(affinity=60)]))
    aff0 = sets_of(render(kernel.table, [port(affinity=60)]))[0]
    added = _nft("add", "element", "ip", kernel.table, aff0, "{ 127.244.9.9 }")
    assert added.returncode == 0, added.stderr
    # another Service appears: the table is rewritten, the client stays in its set
    asyncio.run(kernel.sync([port(affinity=60), port("other")]))
    listed = _nft("list", "set", "ip", kernel.table, aff0)
    assert listed.returncode == 0, listed.stderr
    assert "127.244.9.9" in listed.stdout
    # the Service goes: its sets go with it
    asyncio.run(kernel.sync([port("other")]))
    assert _nft("list", "set", "ip", kernel.table, aff0).returncode != 0
    assert (
        f"chain {chain_name(port('other'))} {{" in _nft("list", "table", "ip", kernel.table).stdout
    )


def test_a_restarted_proxy_syncs_the_table_it_finds_in_place(
    kernel: NftablesProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pods outlive a crashed kubelite and its rules keep serving them: the next
    kubelite's first sync must not replace the table (a racing connection would
    find no rule) nor forget the clients in the affinity sets."""
    asyncio.run(kernel.sync([port(affinity=60), port("other")]))
    aff0 = sets_of(render(kernel.table, [port(affinity=60)]))[0]
    assert _nft("add", "element", "ip", kernel.table, aff0, "{ 127.244.9.9 }").returncode == 0
    sent: list[str] = []
    real = nftables.run_script

    async def recording(nft: str, script: str) -> None:
        sent.append(script)
        await real(nft, script)

    monkeypatch.setattr(nftables, "run_script", recording)
    again = NftablesProxy(kernel.table)  # no memory of what the table holds
    asyncio.run(again.sync([port(affinity=60)]))
    assert "delete table" not in sent[0]
    assert f"delete chain ip {kernel.table} {chain_name(port('other'))}" in sent[0]
    assert "127.244.9.9" in _nft("list", "set", "ip", kernel.table, aff0).stdout
