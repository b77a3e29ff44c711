"""Ports below 1024 and their stand-ins."""

from __future__ import annotations

from kubelite.api import lowports


def test_each_privileged_port_has_its_own_stand_in_above_the_ephemeral_range() -> None:
    assert lowports.stand_in(80) == 64592
    assert lowports.stand_in(53) == 64565
    stand_ins = {lowports.stand_in(p) for p in range(1, 1024)}
    assert len(stand_ins) == 1023 and min(stand_ins) == 64513 and max(stand_ins) == 65535


def test_port_0_and_unprivileged_ports_may_always_be_bound() -> None:
    assert lowports.may_bind(0)
    assert lowports.may_bind(lowports.unprivileged_start())
    assert lowports.may_bind(65535)
