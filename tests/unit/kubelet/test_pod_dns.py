"""The pod's resolv.conf per dnsPolicy, dnsConfig merging, limits, and the sandbox bind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kubelite.kubelet.dns import (
    DNSConfig,
    Resolver,
    dns_type,
    parse_resolv_conf,
    pod_resolver,
    read_host,
    write_pod_resolv_conf,
)
from kubelite.kubelet.envvars import Sources
from kubelite.kubelet.prepare import Context, _mounts, pod_hostname
from kubelite.kubelet.sandbox import DIR_OVERLAYS, ROOT_OVERLAY, Op, VolumeMount, _apply, plan

HOST = parse_resolv_conf(
    "# written by the host\n"
    "nameserver 10.0.0.2\n"
    "nameserver 10.0.0.3\n"
    "search corp.example. lab.example\n"
    "options edns0 timeout:2\n"
)
CLUSTER = DNSConfig(cluster_dns=("127.96.0.10",), cluster_domain="cluster.local")


def make_pod(ns: str = "shop", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web-0", "namespace": ns, "uid": "u1"}, "spec": spec}


def test_host_resolv_conf_parsing() -> None:
    assert (
        Resolver(
            servers=["10.0.0.2", "10.0.0.3"],
            searches=["corp.example", "lab.example"],
            options=["edns0", "timeout:2"],
        )
        == HOST
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({}, "cluster", id="default-is-cluster-first"),
        pytest.param({"dnsPolicy": "ClusterFirst"}, "cluster", id="cluster-first"),
        pytest.param(
            {"dnsPolicy": "ClusterFirst", "hostNetwork": True}, "host", id="host-net-falls-back"
        ),
        pytest.param(
            {"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": True},
            "cluster",
            id="with-host-net",
        ),
        pytest.param({"dnsPolicy": "Default"}, "host", id="default"),
        pytest.param({"dnsPolicy": "None"}, "none", id="none"),
    ],
)
def test_dns_type(spec: dict[str, Any], expected: str) -> None:
    assert dns_type(make_pod(**spec)) == expected


def test_cluster_first_names_the_cluster_dns_and_appends_host_searches() -> None:
    resolver, warnings = pod_resolver(make_pod(), CLUSTER, HOST)
    assert warnings == []
    assert resolver.render() == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local"
        " corp.example lab.example\n"
        "nameserver 127.96.0.10\n"
        "options ndots:5\n"
    )


def test_default_is_the_host_file() -> None:
    resolver, _ = pod_resolver(make_pod(dnsPolicy="Default"), CLUSTER, HOST)
    assert resolver == HOST


def test_none_takes_only_dns_config_and_options_merge_by_name() -> None:
    pod = make_pod(
        dnsPolicy="None",
        dnsConfig={
            "nameservers": ["1.1.1.1"],
            "searches": ["a.example", "a.example"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
        },
    )
    resolver, _ = pod_resolver(pod, CLUSTER, HOST)
    assert resolver.render() == "search a.example\nnameserver 1.1.1.1\noptions ndots:2 edns0\n"


def test_dns_config_appends_to_cluster_first_and_overrides_ndots() -> None:
    pod = make_pod(
        dnsConfig={
            "nameservers": ["127.96.0.10", "9.9.9.9"],
            "searches": ["cluster.local", "extra.example"],
            "options": [{"name": "ndots", "value": "1"}],
        }
    )
    resolver, _ = pod_resolver(pod, CLUSTER, Resolver())
    assert resolver.servers == ["127.96.0.10", "9.9.9.9"]  # no duplicate
    assert resolver.searches == [
        "shop.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
        "extra.example",
    ]
    assert resolver.options == ["ndots:1"]


def test_no_cluster_dns_falls_back_to_host_with_missing_cluster_dns_warning() -> None:
    resolver, warnings = pod_resolver(make_pod(), DNSConfig(), HOST)
    assert resolver == HOST
    assert [w.reason for w in warnings] == ["MissingClusterDNS"]
    assert warnings[0].message == (
        'pod: "web-0_shop(u1)". kubelet does not have ClusterDNS IP configured and cannot '
        'create Pod using "ClusterFirst" policy. Falling back to "Default" policy.'
    )


def test_limits_trim_nameservers_and_searches_with_dns_config_forming() -> None:
    many = [f"d{i}.example" for i in range(40)]
    pod = make_pod(
        dnsPolicy="None",
        dnsConfig={"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"], "searches": many},
    )
    resolver, warnings = pod_resolver(pod, CLUSTER, HOST)
    assert resolver.servers == ["1.1.1.1", "2.2.2.2", "3.3.3.3"]
    assert resolver.searches == many[:32]
    assert [w.reason for w in warnings] == ["DNSConfigForming", "DNSConfigForming"]
    assert warnings[0].message.endswith("the applied nameserver line is: 1.1.1.1 2.2.2.2 3.3.3.3")
    assert warnings[1].message.startswith("Search Line limits were exceeded")


def test_search_line_limited_to_2048_characters() -> None:
    long = ["x" * 200 + f".e{i}" for i in range(12)]  # 203 characters each (i < 10)
    resolver, warnings = pod_resolver(
        make_pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"], "searches": long}),
        CLUSTER,
        HOST,
    )
    assert len(" ".join(resolver.searches)) <= 2048
    # 10 * 203 + 9 spaces = 2039 fits; an 11th would make 2243
    assert resolver.searches == long[:10]
    assert warnings and warnings[0].reason == "DNSConfigForming"


def test_written_once_and_warned_once(tmp_path: Path) -> None:
    host = tmp_path / "host-resolv.conf"
    host.write_text("nameserver 10.0.0.2\n")
    config = DNSConfig(host_resolv_conf=str(host))
    path, warnings = write_pod_resolv_conf(make_pod(), tmp_path / "pod", config)
    assert path.read_text() == "nameserver 10.0.0.2\n"
    assert [w.reason for w in warnings] == ["MissingClusterDNS"]
    again, warnings = write_pod_resolv_conf(make_pod(), tmp_path / "pod", config)
    assert again == path and warnings == []


def _ctx(tmp_path: Path, resolv: Path | None) -> Context:
    return Context(
        pod=make_pod(),
        pod_dir=tmp_path,
        pod_ip="127.244.0.2",
        host_ip="127.0.0.1",
        volumes={"cfg": str(tmp_path / "cfg")},
        sources=Sources(),
        data_dir=tmp_path,
        isolate=True,
        resolv_conf=resolv,
    )


def test_resolv_conf_is_bound_unless_the_user_mounts_that_path(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    assert _mounts(_ctx(tmp_path, resolv), {"name": "c"}) == [
        VolumeMount(str(resolv), "/etc/resolv.conf")
    ]
    own = {"name": "c", "volumeMounts": [{"name": "cfg", "mountPath": "/etc/resolv.conf"}]}
    assert _mounts(_ctx(tmp_path, resolv), own) == [
        VolumeMount(str(tmp_path / "cfg"), "/etc/resolv.conf", False)
    ]
    assert _mounts(_ctx(tmp_path, None), {"name": "c"}) == []


@pytest.mark.parametrize("layers", [ROOT_OVERLAY, DIR_OVERLAYS])
def test_plan_binds_the_file_over_an_overlaid_etc(tmp_path: Path, layers: str) -> None:
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc" / "resolv.conf").write_text("nameserver 10.0.0.2\n")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.96.0.10\n")
    p = plan(
        root=Path("/r"),
        scratch=Path("/s"),
        image_rootfs=None,
        volumes=[VolumeMount(str(resolv), "/etc/resolv.conf")],
        visible=[],
        hostname="web-0",
        workdir="/",
        host_root=host,
        layers=layers,
        as_root=True,
        host_mounts=[],
    )
    # writable, so the mount point can be made: in the overlay of the whole root, or
    # an overlay of its own
    etc = [op.kind for op in p.ops if op.target in ("/r", "/r/etc")]
    assert etc[-1] == "overlay"
    assert [op for op in p.ops if op.target == "/r/etc/resolv.conf"] == [
        Op("touch", "/r/etc/resolv.conf"),
        Op("rbind", "/r/etc/resolv.conf", source=str(resolv)),
    ]


def test_touch_replaces_a_symlink_so_the_bind_stays_inside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside.conf"
    outside.write_text("host\n")
    target = tmp_path / "root" / "etc" / "resolv.conf"
    target.parent.mkdir(parents=True)
    target.symlink_to(outside)
    _apply(Op("touch", str(target)))
    assert not target.is_symlink() and target.is_file()
    assert outside.read_text() == "host\n"


def test_host_resolv_conf_changes_are_picked_up(tmp_path: Path) -> None:
    host = tmp_path / "host-resolv.conf"
    host.write_text("nameserver 10.0.0.2\n")
    config = DNSConfig(host_resolv_conf=str(host))

    def written(n: int) -> str:
        path, _ = write_pod_resolv_conf(make_pod(), tmp_path / f"pod{n}", config)
        return path.read_text()

    assert written(1) == "nameserver 10.0.0.2\n"
    host.write_text("nameserver 10.0.0.2\nsearch lan\n")  # another size
    assert written(2) == "search lan\nnameserver 10.0.0.2\n"
    stamp = host.stat().st_mtime_ns
    host.write_text("nameserver 10.0.0.9\nsearch lan\n")  # same size, another mtime
    os.utime(host, ns=(stamp + 10**9, stamp + 10**9))
    assert written(3) == "search lan\nnameserver 10.0.0.9\n"
    new = tmp_path / "new-resolv.conf"
    new.write_text("nameserver 10.0.0.7\nsearch lan\n")  # same size and mtime, another file
    os.utime(new, ns=(stamp + 10**9, stamp + 10**9))
    new.replace(host)
    assert written(4) == "search lan\nnameserver 10.0.0.7\n"
    host.unlink()
    assert written(5) == ""


def test_host_resolver_is_a_copy_each_time(tmp_path: Path) -> None:
    host = tmp_path / "host-resolv.conf"
    host.write_text("nameserver 10.0.0.2\nsearch lan\noptions edns0\n")
    first = read_host(str(host))
    first.servers.append("6.6.6.6")
    first.searches.clear()
    assert read_host(str(host)) == Resolver(["10.0.0.2"], ["lan"], ["edns0"])


def test_pod_hostname_is_spec_hostname_when_set() -> None:
    indexed = {"metadata": {"name": "work-2-x7k2p"}, "spec": {"hostname": "work-2"}}
    plain = {"metadata": {"name": "n" * 70}, "spec": {}}
    assert pod_hostname(indexed) == "work-2"
    assert pod_hostname(plain) == "n" * 63


def test_cluster_dns_on_its_stand_in_is_asked_over_tcp() -> None:
    config = DNSConfig(cluster_dns=("127.96.0.10",), cluster_options=("use-vc",))
    resolver, warnings = pod_resolver(make_pod(), config, HOST)
    assert resolver.servers == ["127.96.0.10"] and warnings == []
    assert resolver.options == ["ndots:5", "use-vc"]
    assert resolver.render().endswith("options ndots:5 use-vc\n")
    # a pod's own dnsConfig still overrides by name
    pod = make_pod(dnsConfig={"options": [{"name": "ndots", "value": "2"}]})
    assert pod_resolver(pod, config, HOST)[0].options == ["ndots:2", "use-vc"]
