"""What the node agents are told about the cluster DNS, by the port its server got."""

from __future__ import annotations

import logging

import pytest

from kubelite.cli.parts import pod_nameservers


def test_port_53_is_the_cluster_dns_as_is() -> None:
    assert pod_nameservers("127.96.0.10", 53) == (("127.96.0.10",), ())


def test_port_53s_stand_in_is_reached_over_tcp() -> None:
    assert pod_nameservers("127.96.0.10", 64565) == (("127.96.0.10",), ("use-vc",))


def test_any_other_port_leaves_pods_to_the_hosts_resolvers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert pod_nameservers("127.96.0.10", 40123) == ((), ())
    assert "not port 53" in caplog.text
