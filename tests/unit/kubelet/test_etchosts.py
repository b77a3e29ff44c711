"""The pod's hosts file, line for line as the kubelet writes it."""

from __future__ import annotations

from pathlib import Path

from kubelite.kubelet import etchosts

LOCAL = (
    "# Kubernetes-managed hosts file.\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def test_a_pod_finds_its_own_name_at_its_ip() -> None:
    text = etchosts.managed_hosts(["127.244.3.7"], "web-0", "")
    assert text == LOCAL + "127.244.3.7\tweb-0\n"


def test_a_subdomain_gives_the_fully_qualified_name_first() -> None:
    text = etchosts.managed_hosts(["127.244.3.7"], "web-0", "web.shop.svc.cluster.local")
    assert text.endswith("127.244.3.7\tweb-0.web.shop.svc.cluster.local\tweb-0\n")


def test_host_aliases_follow_under_their_own_heading() -> None:
    aliases = [{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}]
    text = etchosts.managed_hosts(["127.244.3.7"], "p", "", aliases)
    assert text.endswith(
        "127.244.3.7\tp\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"
    )


def test_a_host_network_pod_gets_the_machines_file_and_its_aliases() -> None:
    aliases = [{"ip": "10.1.2.3", "hostnames": ["foo"]}]
    text = etchosts.host_network_hosts("127.0.0.1 localhost\n", aliases)
    assert text == (
        "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n"
        "\n# Entries added by HostAliases.\n10.1.2.3\tfoo\n"
    )


def test_the_file_follows_the_pod_ip_on_its_own_inode(tmp_path: Path) -> None:
    # upstream rewrites it at every container creation; a pod set up again after a
    # restart of kubelite may have another IP, and running containers bind its inode
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"subdomain": "s"}}
    path = etchosts.write_pod_hosts(pod, tmp_path, "127.244.0.5", "p", "cluster.local")
    assert "127.244.0.5\tp.s.ns.svc.cluster.local\tp\n" in path.read_text()
    inode = path.stat().st_ino
    again = etchosts.write_pod_hosts(pod, tmp_path, "127.244.0.9", "p", "cluster.local")
    assert again == path and path.stat().st_ino == inode
    assert "127.244.0.9\tp.s.ns.svc.cluster.local\tp\n" in path.read_text()
    assert "127.244.0.5" not in path.read_text()
