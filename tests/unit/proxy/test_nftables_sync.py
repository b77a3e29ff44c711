"""A sync never leaves a connection half-way between two rulesets.

A packet walks the rules of the generation current when it entered the
table, but its set and map lookups read the generation current at lookup
time. So a commit landing in between gives it the old rules with the new
maps. Replacing a rule retires its inline map's elements in the new
generation: an old `dnat ... numgen random mod N map { ... }` rule then
finds nothing and the connection leaves un-NATed, to a ClusterIP nothing
listens on: "connection refused" (the rare e2e failure of a replica deleted
during traffic). These tests pin the rulesets that keep every such mix
harmless: no inline map in any rule, and a map element of the new ruleset
leading only to a chain that held the same service's rules in the old one.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from fractions import Fraction

import pytest

from kubelite.proxy import nftables
from kubelite.proxy.nftables import NftablesProxy, chain_name, render
from kubelite.proxy.servicemap import Endpoint, ServicePort

TABLE = "kubelite-t"
EPS = tuple(Endpoint(f"127.244.0.{i}", 8080) for i in range(2, 6))


def port(
    name: str, n: int, *, ip: str = "127.96.1.1", affinity: int = 0, node_port: int = 0
) -> ServicePort:
    return ServicePort(
        "default", name, "http", "TCP", ip, 80, node_port=node_port,
        affinity_timeout=affinity, endpoints=EPS[:n],
    )  # fmt: skip


def chains(script: str) -> dict[str, list[str]]:
    """Each chain declared in the script, with its rule lines."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in script.splitlines():
        m = re.fullmatch(r"  chain (\S+) \{", line)
        if m:
            current = out[m.group(1)] = []
        elif line == "  }":
            current = None
        elif current is not None and not line.strip().startswith("type "):
            current.append(line.strip())
    return out


def elements(script: str) -> dict[str, str]:
    """Map element -> the chain it leads to, for both dispatch maps."""
    out: dict[str, str] = {}
    for line in script.splitlines():
        if line.strip().startswith("elements = {"):
            for item in line.strip()[len("elements = { ") : -len(" }")].split(", "):
                key, verdict = item.split(" : ")
                out[key] = verdict.removeprefix("goto ")
    return out


def owner(rules: list[str], script: str) -> set[str]:
    """The service ports whose endpoints a chain leads to (following gotos)."""
    found = set(re.findall(r'comment "([^"]+)"', "\n".join(rules)))
    for target in re.findall(r"goto ([\w-]+)", "\n".join(rules)):
        found |= owner(chains(script)[target], script)
    return found


def syncs() -> list[list[ServicePort]]:
    """A run of syncs: endpoints come and go, other services appear before and after."""
    b, z = "127.96.1.2", "127.96.1.9"
    return [
        [port("b", 3, ip=b, node_port=30080)],
        [port("a", 2), port("b", 3, ip=b, node_port=30080)],  # `a` sorts before `b`
        [port("a", 2), port("b", 2, ip=b, node_port=30080), port("z", 1, ip=z)],
        [port("a", 0), port("b", 4, ip=b, node_port=30080), port("z", 3, ip=z, affinity=60)],
        [port("a", 3, affinity=60), port("b", 1, ip=b), port("z", 2, ip=z, affinity=60)],
        [port("b", 3, ip=b, node_port=30080, affinity=30), port("z", 2, ip=z)],
    ]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The transactions NftablesProxy hands to `nft -f` for that run of syncs."""
    out: list[str] = []

    async def run_script(nft: str, script: str) -> None:
        out.append(script)

    monkeypatch.setattr(nftables, "run_script", run_script)
    proxy = NftablesProxy(TABLE)
    for ports in syncs():
        asyncio.run(proxy.sync(ports))
    assert len(out) == len(syncs()) and "delete table" not in "".join(out[1:])
    return out


def test_no_rule_looks_up_an_inline_map(sent: list[str]) -> None:
    """Replacing a rule retires its inline map at once: an old rule still being
    walked would find no endpoint there and send the connection on un-NATed."""
    for script in sent:
        for name, rules in chains(script).items():
            for rule in rules:
                assert not re.search(r"\bv?map \{", rule), f"chain {name}: {rule}"


def test_a_map_element_never_leads_to_another_services_old_chain(sent: list[str]) -> None:
    """Old rules with the new maps: wherever an element of the new ruleset leads,
    that chain's rules in the old ruleset belong to the same service (or it is new)."""
    for old, new in zip(sent, sent[1:], strict=False):
        old_chains, new_chains = chains(old), chains(new)
        for key, target in elements(new).items():
            if target in old_chains:
                assert owner(old_chains[target], old) == owner(new_chains[target], new), key


def test_a_service_keeps_its_chain_when_others_come_and_go() -> None:
    b = port("b", 3, ip="127.96.1.2")
    alone = render(TABLE, [b])
    with_a = render(TABLE, [port("a", 2), b], previous=nftables.Objects(frozenset({chain_name(b)})))
    assert elements(alone)["127.96.1.2 . tcp . 80"] == chain_name(b)
    assert elements(with_a)["127.96.1.2 . tcp . 80"] == chain_name(b)
    assert f"delete chain ip {TABLE} {chain_name(b)}" not in with_a


def _share(rules: list[str]) -> list[Fraction]:
    """The chance each rule of a random pick is the one taken."""
    left, out = Fraction(1), []
    for rule in rules:
        m = re.search(r"numgen random mod (\d+) 0 ", rule)
        k = int(m.group(1)) if m else 1
        out.append(left / k)
        left -= left / k
    assert left == 0  # the last rule takes whatever reaches it
    return out


@pytest.mark.parametrize("n", range(1, 6))
@pytest.mark.parametrize("affinity", [0, 60])
def test_the_random_pick_gives_each_endpoint_an_equal_share(n: int, affinity: int) -> None:
    sp = ServicePort(
        "default", "web", "http", "TCP", "127.96.1.1", 80, affinity_timeout=affinity,
        endpoints=tuple(Endpoint(f"127.244.0.{i}", 8080) for i in range(2, 2 + n)),
    )  # fmt: skip
    rules = chains(render(TABLE, [sp]))[chain_name(sp)]
    picks = [r for r in rules if not r.startswith("ip saddr @")]  # affinity looks first
    assert len(picks) == n
    assert _share(picks) == [Fraction(1, n)] * n


def _nft(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nft", *args], capture_output=True, text=True, check=False)


def test_the_kernel_takes_every_sync_in_place(kernel: NftablesProxy) -> None:
    for ports in syncs():
        asyncio.run(kernel.sync(ports))
        listed = _nft("list", "table", "ip", kernel.table).stdout
        for sp in ports:
            if sp.endpoints:
                assert f"chain {chain_name(sp)} {{" in listed
        assert not re.search(r"\bv?map \{", listed)


def test_a_sync_after_a_failed_one_goes_in_place(
    kernel: NftablesProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second, third = syncs()[1:4]
    asyncio.run(kernel.sync(first))
    real = nftables.run_script
    sent: list[str] = []

    async def failing(nft: str, script: str) -> None:
        raise RuntimeError("nft -f failed: Error: Could not process rule")

    async def recording(nft: str, script: str) -> None:
        sent.append(script)
        await real(nft, script)

    monkeypatch.setattr(nftables, "run_script", failing)
    with pytest.raises(RuntimeError):
        asyncio.run(kernel.sync(second))
    monkeypatch.setattr(nftables, "run_script", recording)
    asyncio.run(kernel.sync(third))
    assert len(sent) == 1 and "delete table" not in sent[0]
    assert sent[0].startswith(f"flush table ip {kernel.table}\n")
    listed = _nft("list", "table", "ip", kernel.table).stdout
    for sp in third:
        assert (f"chain {chain_name(sp)} {{" in listed) == bool(sp.endpoints)
