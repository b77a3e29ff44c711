"""NetworkPolicy rules: policies, pods and namespaces -> the nft table."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from typing import Any

import pytest

from kubelite.proxy import netpol

TABLE = "kubelite-test-np"


def pod(
    name: str,
    ip: str | None,
    ns: str = "a",
    labels: dict[str, str] | None = None,
    ports: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "Running"}
    if ip:
        status["podIP"] = ip
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "ports": ports or []}], **spec},
        "status": status,
    }


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}}}


def pol(name: str, spec: dict[str, Any], namespace: str = "a") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


SERVER = pod(
    "server",
    "127.244.0.2",
    labels={"app": "server"},
    ports=[
        {"name": "http", "containerPort": 8080},
        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
    ],
)
CALLER = pod("caller", "127.244.0.3", labels={"app": "caller"})
OTHER = pod("other", "127.244.0.4", labels={"app": "other"})
FAR = pod("far", "127.244.0.5", ns="b", labels={"app": "caller"})
PODS = [SERVER, CALLER, OTHER, FAR]
NAMESPACES = [ns("a"), ns("b", team="x")]


def chain(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(f"  chain {name} {{")
    end = lines.index("  }", start)
    return [line.strip() for line in lines[start + 1 : end]]


def chain_of(text: str, kind: str, ip: str) -> list[str]:
    for line in text.splitlines():
        if f"{ip} : jump {kind}-" in line:
            name = line.split(f"{ip} : jump ")[1].split(",")[0].split()[0]
            return chain(text, name)
    raise AssertionError(f"no {kind} chain for {ip}")


def isolated(text: str, kind: str) -> set[str]:
    out = set()
    for line in text.splitlines():
        if f": jump {kind}-" in line:
            for item in line.split("{")[1].split("}")[0].split(","):
                out.add(item.split(":")[0].strip())
    return out


def render(*policies: dict[str, Any], pods: list[dict[str, Any]] | None = None) -> str:
    return netpol.render(TABLE, list(policies), PODS if pods is None else pods, NAMESPACES)


REJECT = ["meta l4proto tcp reject with tcp reset", "reject"]


def test_no_policy_isolates_nobody() -> None:
    text = render()
    assert isolated(text, "ingress") == set() and isolated(text, "egress") == set()
    assert "ct state established,related accept" in text
    assert "type filter hook output priority filter" in text


def test_policy_types_default() -> None:
    assert netpol.policy_types(pol("p", {"podSelector": {}})) == {"Ingress"}
    assert netpol.policy_types(pol("p", {"podSelector": {}, "egress": []})) == {"Ingress", "Egress"}
    assert netpol.policy_types(pol("p", {"podSelector": {}, "policyTypes": ["Egress"]})) == {
        "Egress"
    }


def test_default_deny_ingress_lets_only_the_host_and_the_pod_itself_in() -> None:
    text = render(pol("deny", {"podSelector": {"matchLabels": {"app": "server"}}}))
    assert isolated(text, "ingress") == {"127.244.0.2"}
    assert isolated(text, "egress") == set()
    rules = chain_of(text, "ingress", "127.244.0.2")
    assert rules == [
        'ip saddr != 127.244.0.0/16 accept comment "a/server"',
        "ip saddr 127.244.0.2 accept",
        *REJECT,
    ]


def test_empty_pod_selector_selects_every_pod_of_the_namespace_only() -> None:
    text = render(pol("deny", {"podSelector": {}, "ingress": []}))
    assert isolated(text, "ingress") == {"127.244.0.2", "127.244.0.3", "127.244.0.4"}


def test_a_rule_without_from_allows_every_source() -> None:
    text = render(pol("all", {"podSelector": {}, "ingress": [{}]}))
    assert "accept" in chain_of(text, "ingress", "127.244.0.2")[2]
    assert chain_of(text, "ingress", "127.244.0.2")[2] == "accept"


def test_pod_selector_peers_are_in_the_policy_namespace() -> None:
    spec = {
        "podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "caller"}}}]}],
    }
    rules = chain_of(render(pol("p", spec)), "ingress", "127.244.0.2")
    assert "ip saddr 127.244.0.3 accept" in rules
    assert not any("127.244.0.5" in r for r in rules)  # app=caller in namespace b


def test_namespace_selector_and_both_together() -> None:
    by_ns = {"namespaceSelector": {"matchLabels": {"team": "x"}}}
    both = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "a"}},
        "podSelector": {"matchLabels": {"app": "other"}},
    }
    spec = {"podSelector": {"matchLabels": {"app": "server"}}, "ingress": [{"from": [by_ns]}]}
    rules = chain_of(render(pol("p", spec)), "ingress", "127.244.0.2")
    assert "ip saddr 127.244.0.5 accept" in rules
    spec = {"podSelector": {"matchLabels": {"app": "server"}}, "ingress": [{"from": [both]}]}
    rules = chain_of(render(pol("p", spec)), "ingress", "127.244.0.2")
    assert "ip saddr 127.244.0.4 accept" in rules
    assert not any("127.244.0.3" in r or "127.244.0.5" in r for r in rules)


def test_union_of_policies_selecting_a_pod() -> None:
    one = {
        "podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "caller"}}}]}],
    }
    two = {
        "podSelector": {},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "other"}}}]}],
    }
    rules = chain_of(render(pol("one", one), pol("two", two)), "ingress", "127.244.0.2")
    assert "ip saddr 127.244.0.3 accept" in rules
    assert "ip saddr 127.244.0.4 accept" in rules
    assert rules[-2:] == REJECT


def test_ip_block_with_except() -> None:
    spec = {
        "podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [
            {"from": [{"ipBlock": {"cidr": "127.244.0.0/24", "except": ["127.244.0.4/32"]}}]}
        ],
    }
    rules = chain_of(render(pol("p", spec)), "ingress", "127.244.0.2")
    assert "ip saddr 127.244.0.0/24 ip saddr != 127.244.0.4/32 accept" in rules


def test_ports_numbers_ranges_named_and_protocols() -> None:
    spec = {
        "podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": {"app": "caller"}}}],
                "ports": [
                    {"port": "http"},
                    {"port": 9000, "endPort": 9010},
                    {"port": "dns", "protocol": "UDP"},
                    {"port": "missing"},
                    {"port": 7, "protocol": "SCTP"},
                ],
            }
        ],
    }
    rules = chain_of(render(pol("p", spec)), "ingress", "127.244.0.2")
    assert "ip saddr 127.244.0.3 meta l4proto tcp th dport { 8080, 9000-9010 } accept" in rules
    assert "ip saddr 127.244.0.3 meta l4proto udp th dport 53 accept" in rules
    assert not any("sctp" in r for r in rules)


def test_a_rule_whose_ports_resolve_to_nothing_allows_nothing() -> None:
    spec = {
        "podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [{"ports": [{"port": "missing"}]}],
    }
    rules = chain_of(render(pol("p", spec)), "ingress", "127.244.0.2")
    assert rules[2:] == REJECT


def test_protocol_without_port_allows_all_its_ports() -> None:
    spec = {"podSelector": {}, "ingress": [{"ports": [{"protocol": "UDP"}]}]}
    rules = chain_of(render(pol("p", spec)), "ingress", "127.244.0.2")
    assert "meta l4proto udp accept" in rules


def test_egress_default_deny_and_allows() -> None:
    deny = {"podSelector": {"matchLabels": {"app": "caller"}}, "policyTypes": ["Egress"]}
    text = render(pol("deny", deny))
    assert isolated(text, "egress") == {"127.244.0.3"}
    assert isolated(text, "ingress") == set()
    assert chain_of(text, "egress", "127.244.0.3") == [
        'ip daddr 127.244.0.3 return comment "a/caller"',
        *REJECT,
    ]
    allow = {
        "podSelector": {"matchLabels": {"app": "caller"}},
        "egress": [
            {
                "to": [{"podSelector": {"matchLabels": {"app": "server"}}}],
                "ports": [{"port": "http"}],
            },
            {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53}]},
            {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]},
        ],
    }
    text = render(pol("deny", deny), pol("allow", allow))
    rules = chain_of(text, "egress", "127.244.0.3")
    # a named port resolves against the destination pod
    assert "ip daddr 127.244.0.2 meta l4proto tcp th dport 8080 return" in rules
    assert "meta l4proto tcp th dport 53 return" in rules
    assert "meta l4proto udp th dport 53 return" in rules
    assert "ip daddr 10.0.0.0/8 return" in rules
    assert rules[-2:] == REJECT
    # a policy with `egress` and no policyTypes isolates both ways
    assert isolated(text, "ingress") == {"127.244.0.3"}


def test_the_usual_allow_dns_rule_reaches_the_cluster_dns() -> None:
    """`to` kube-system's `k8s-app: kube-dns` pods on port 53, as charts write it."""
    dns = netpol.cluster_dns_peer("127.96.0.10", 53)
    spec = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                        },
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                    }
                ],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": "dns-tcp", "protocol": "TCP"}],
            }
        ],
    }
    namespaces = [*NAMESPACES, ns("kube-system")]
    text = netpol.render(TABLE, [pol("dns", spec)], PODS, namespaces, [dns])
    rules = chain_of(text, "egress", "127.244.0.3")
    assert "ip daddr 127.96.0.10 meta l4proto udp th dport 53 return" in rules
    assert "ip daddr 127.96.0.10 meta l4proto tcp th dport 53 return" in rules
    # a peer, never a subject; and no other pod is let through by this rule
    assert "127.96.0.10" not in isolated(text, "egress") | isolated(text, "ingress")
    assert not any("127.244.0.2" in r for r in rules)
    # without the peer nothing is allowed
    text = netpol.render(TABLE, [pol("dns", spec)], PODS, namespaces)
    assert chain_of(text, "egress", "127.244.0.3")[1:] == REJECT
    # nor for the label in another namespace
    spec["egress"][0]["to"][0]["namespaceSelector"] = {"matchLabels": {"team": "x"}}
    text = netpol.render(TABLE, [pol("dns", spec)], PODS, namespaces, [dns])
    assert chain_of(text, "egress", "127.244.0.3")[1:] == REJECT
    spec["egress"][0]["to"][0]["namespaceSelector"] = {}
    # a rule selecting other labels in kube-system does not reach it
    spec["egress"][0]["to"][0]["podSelector"] = {"matchLabels": {"k8s-app": "other"}}
    text = netpol.render(TABLE, [pol("dns", spec)], PODS, namespaces, [dns])
    assert chain_of(text, "egress", "127.244.0.3")[1:] == REJECT


def test_egress_named_port_without_to_matches_pods_having_it() -> None:
    spec = {
        "podSelector": {"matchLabels": {"app": "caller"}},
        "policyTypes": ["Egress"],
        "egress": [{"ports": [{"port": "http"}, {"port": 80}]}],
    }
    rules = chain_of(render(pol("p", spec)), "egress", "127.244.0.3")
    assert "meta l4proto tcp th dport 80 return" in rules
    assert "ip daddr 127.244.0.2 meta l4proto tcp th dport 8080 return" in rules
    assert not any("127.244.0.4" in r for r in rules)


def test_pods_without_an_ip_or_on_the_host_network_are_not_subject() -> None:
    pods = [
        pod("pending", None, labels={"app": "server"}),
        pod("host", "127.0.0.1", labels={"app": "server"}, hostNetwork=True),
        SERVER,
    ]
    done = pod("done", "127.244.0.9", labels={"app": "server"})
    done["status"]["phase"] = "Succeeded"
    text = render(pol("deny", {"podSelector": {}}), pods=[*pods, done])
    assert isolated(text, "ingress") == {"127.244.0.2"}


def test_label_changes_move_pods_in_and_out() -> None:
    spec = {
        "podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [
            {
                "from": [
                    {
                        "podSelector": {
                            "matchExpressions": [
                                {"key": "app", "operator": "In", "values": ["other"]}
                            ]
                        }
                    }
                ]
            }
        ],
    }
    before = chain_of(render(pol("p", spec)), "ingress", "127.244.0.2")
    relabelled = pod("caller", "127.244.0.3", labels={"app": "other"})
    after = chain_of(
        render(pol("p", spec), pods=[SERVER, relabelled, OTHER]), "ingress", "127.244.0.2"
    )
    assert "ip saddr 127.244.0.4 accept" in before
    assert "ip saddr { 127.244.0.3, 127.244.0.4 } accept" in after


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None, reason="needs root and nft (nft -c)"
)
def test_the_script_is_valid_nft() -> None:
    spec = {
        "podSelector": {},
        "egress": [
            {
                "to": [{"namespaceSelector": {}}],
                "ports": [{"port": "http"}, {"port": 53, "protocol": "UDP"}],
            }
        ],
        "ingress": [
            {
                "from": [
                    {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16", "10.2.0.0/16"]}},
                    {"podSelector": {}},
                ],
                "ports": [{"port": 80, "endPort": 90}, {"protocol": "UDP"}],
            }
        ],
    }
    text = netpol.script(TABLE, render(pol("p", spec)))
    proc = subprocess.run(
        ["nft", "-c", "-f", "-"], input=text, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_egress_named_and_numbered_ports_to_selected_pods() -> None:
    spec = {
        "podSelector": {"matchLabels": {"app": "caller"}},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": [{"podSelector": {"matchLabels": {"app": "server"}}}],
                "ports": [{"port": "http"}, {"port": 9000, "endPort": 9001}],
            }
        ],
    }
    rules = chain_of(render(pol("p", spec)), "egress", "127.244.0.3")
    assert rules == [
        'ip daddr 127.244.0.3 return comment "a/caller"',
        "ip daddr 127.244.0.2 meta l4proto tcp th dport 9000-9001 return",
        "ip daddr 127.244.0.2 meta l4proto tcp th dport 8080 return",
        *REJECT,
    ]


def _syncs() -> list[str]:
    """Bodies of a run of syncs: isolated pods come and go around the server."""
    deny = pol("deny", {"podSelector": {"matchLabels": {"app": "server"}}})
    everyone = pol("all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    return [
        render(deny),
        render(deny, everyone),
        render(deny, pods=[SERVER, OTHER]),
        render(deny, everyone, pods=[CALLER, SERVER]),
    ]


def test_a_sync_after_the_first_keeps_the_table_and_each_pods_chain() -> None:
    bodies = _syncs()
    assert "delete table" in netpol.script(TABLE, bodies[0])  # nothing in place yet
    for old, new in zip(bodies, bodies[1:], strict=False):
        text = netpol.script(TABLE, new, netpol.chains_of(old))
        # a deleted table's maps answer no lookup: a packet mid-walk would pass unchecked
        assert "delete table" not in text
        assert text.startswith(f"flush table ip {TABLE}\n")
        assert f"flush map ip {TABLE} ingress-pods" in text
    # the server's chain is named after it, whoever else is isolated
    for body in bodies:
        assert "127.244.0.2 : jump ingress-127-244-0-2" in body
    # a chain no longer needed goes in the same transaction
    text = netpol.script(TABLE, bodies[2], netpol.chains_of(bodies[1]))
    assert f"delete chain ip {TABLE} egress-127-244-0-3" in text
    assert f"delete chain ip {TABLE} ingress-127-244-0-2" not in text


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None,
    reason="needs root and the nft command (Debian package nftables)",
)
def test_the_kernel_takes_each_sync_in_place() -> None:
    table = f"kubelite-np-{os.getpid()}"
    previous = None
    try:
        for body in _syncs():
            in_place = None if previous is None else netpol.chains_of(previous)
            text = netpol.script(table, body.replace(TABLE, table), in_place)
            proc = subprocess.run(
                ["nft", "-f", "-"], input=text, capture_output=True, text=True, check=False
            )
            assert proc.returncode == 0, proc.stderr
            previous = body.replace(TABLE, table)
        listed = subprocess.run(
            ["nft", "list", "table", "ip", table], capture_output=True, text=True, check=True
        ).stdout
        assert "chain egress-127-244-0-3" in listed and "chain ingress-127-244-0-4" not in listed
    finally:
        subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True, check=False)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None,
    reason="needs root and the nft command (Debian package nftables)",
)
def test_the_enforcer_never_replaces_a_table_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the table a crashed kubelite left nor the one a failed sync kept is
    replaced whole: a packet racing that would pass unchecked."""
    table = f"kubelite-npe-{os.getpid()}"
    rendered = [body.replace(TABLE, table) for body in _syncs()]
    bodies = iter(rendered)
    left = next(bodies)
    real = netpol.run_script
    sent: list[str] = []

    async def recording(nft: str, text: str) -> None:
        sent.append(text)
        await real(nft, text)

    async def failing(nft: str, text: str) -> None:
        raise RuntimeError("nft -f failed: Error: Could not process rule")

    try:
        asyncio.run(real("nft", netpol.script(table, left)))  # the crashed one's table
        enforcer = netpol.NetworkPolicyEnforcer(table)
        monkeypatch.setattr(enforcer.policies, "list", lambda: [{}])
        monkeypatch.setattr(netpol, "render", lambda *_a: next(bodies))
        monkeypatch.setattr(netpol, "run_script", recording)
        asyncio.run(enforcer.sync_once())  # adopts it
        monkeypatch.setattr(netpol, "run_script", failing)
        with pytest.raises(RuntimeError):
            asyncio.run(enforcer.sync_once())
        monkeypatch.setattr(netpol, "run_script", recording)
        asyncio.run(enforcer.sync_once())  # reads it back
        assert len(sent) == 2
        for text in sent:
            assert "delete table" not in text and text.startswith(f"flush table ip {table}\n")
        # the last body's chains, and none left of the tables before it
        listed = subprocess.run(
            ["nft", "list", "table", "ip", table], capture_output=True, text=True, check=True
        ).stdout
        assert netpol.chains_of(listed.replace("\t", "  ")) == netpol.chains_of(rendered[3])
    finally:
        subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True, check=False)
