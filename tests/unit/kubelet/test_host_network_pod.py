"""A hostNetwork pod, as upstream's kubelet runs it: the node's IP, the node's hostname.

Upstream reports the node's IPs as a host-network pod's `podIP`/`podIPs`
(no sandbox network of its own, so no address from the pod CIDR), and gives
the sandbox a hostname only when the pod has a network of its own: the
containers keep the node's. Nothing confines their binds to a pod address.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.unit.kubelet.test_prepare import make_ctx, make_image
from tests.unit.kubelet.test_sidecars import container, make_pod, make_runner, until

from kubelite.kubelet.prepare import build_spec


def test_a_host_network_pod_gets_the_node_ip_not_one_from_the_pool(tmp_path: Path) -> None:
    pod = make_pod(inits=[], containers=[container("app")])
    pod["spec"]["hostNetwork"] = True
    runner = make_runner(tmp_path, pod)

    async def scenario() -> None:
        shutdown = asyncio.Event()
        task = asyncio.create_task(runner.run(shutdown=shutdown))
        await until(lambda: "app" in runner.world.started, "the app starts")
        await until(lambda: (runner.agent.client.pod.get("status") or {}).get("podIP"), "status")
        status = runner.agent.client.pod["status"]
        assert runner.ip == "127.0.0.1" == runner.agent.host_ip
        assert status["podIP"] == status["hostIP"] == "127.0.0.1"
        assert status["podIPs"] == [{"ip": "127.0.0.1"}]
        assert runner.agent.ipam.owner_of("127.244.9.2") is None  # the pool is untouched
        shutdown.set()
        await task

    asyncio.run(scenario())


def test_a_pod_network_pod_still_gets_a_pool_address(tmp_path: Path) -> None:
    runner = make_runner(tmp_path, make_pod(inits=[], containers=[container("app")]))

    async def scenario() -> None:
        shutdown = asyncio.Event()
        task = asyncio.create_task(runner.run(shutdown=shutdown))
        await until(lambda: "app" in runner.world.started, "the app starts")
        assert runner.ip.startswith("127.244.9.")
        shutdown.set()
        await task

    asyncio.run(scenario())


def test_a_host_network_container_keeps_the_node_hostname_and_binds_freely(
    tmp_path: Path,
) -> None:
    image = make_image(tmp_path)
    own = build_spec(make_ctx(tmp_path), {"name": "c"}, image, tmp_path / "log")
    assert own.plan is not None and own.plan.hostname == "web"
    assert own.pod_ip == "127.244.0.9"
    ctx = make_ctx(tmp_path, hostNetwork=True)
    ctx.pod_ip = ctx.host_ip
    host = build_spec(ctx, {"name": "c"}, image, tmp_path / "log")
    assert host.plan is not None and host.plan.hostname == ""  # sethostname is skipped
    assert not host.pod_ip  # no bind filter: it binds on the host, as upstream's
