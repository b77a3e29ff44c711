"""Which parts `kubelite up` starts, in start order.

Each part is a `Component` that meets the others only through the API client
it is handed. Listing them here (and nowhere else) keeps the composition in
one place.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kubelite.api import lowports

if TYPE_CHECKING:
    from collections.abc import Callable

    from kubelite.cli.cluster import Cluster, Component

log = logging.getLogger(__name__)


def pod_nameservers(host: str, port: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The node agents' --cluster-dns and the resolver options that go with it.

    resolv.conf names no port. On port 53's stand-in (`lowports`: kubelite may
    not bind 53) the server is reached by TCP, which the node agents send there:
    `options use-vc`. On any other port it is of no use to pods: they fall back
    to the host's resolvers (the node agent records MissingClusterDNS on each
    ClusterFirst pod), and the log says why once.
    """
    if port == 53:
        return (host,), ()
    if port == lowports.stand_in(53):
        return (host,), ("use-vc",)
    log.warning(
        "cluster DNS listens on %s:%d, not port 53, which resolv.conf cannot name: "
        "ClusterFirst pods fall back to the host's resolv.conf",
        host,
        port,
    )
    return (), ()


def components(cluster: Cluster) -> list[Component]:
    from kubelite.apiserver.rbac_bootstrap import RbacBootstrapHook
    from kubelite.controllers import controllers
    from kubelite.dashboard import DASHBOARD_PORT, Dashboard
    from kubelite.kubelet import ExecRouter, LogRouter, MetricsRouter, node_agents
    from kubelite.proxy import ClusterDNS, LoadBalancerController, ServiceProxy, table_name
    from kubelite.proxy.dns.server import host_for as dns_host_for
    from kubelite.proxy.ingress import IngressController, default_port, default_tls_port
    from kubelite.scheduler.component import SchedulerComponent
    from kubelite.tracing.component import TracingCollector, retention_settings

    pick = cluster.options.port == 0  # --port 0: free ports for every listener
    dns = ClusterDNS(
        host=dns_host_for(cluster.service_ip.ip or ""),
        port=53,
        remembered=cluster.dir.dns_address,
    )
    dns_host, dns_port = dns.bind()  # before the node agents: pods name it in resolv.conf
    cluster.dns = dns
    nameservers, resolver_options = pod_nameservers(dns_host, dns_port)
    agents = node_agents(
        cluster.options.nodes,
        cluster.dir.root,
        cluster.options.extra.get("config"),
        **{
            "cluster_dns": nameservers,
            "cluster_dns_options": resolver_options,
            "cluster_domain": dns.zone,
            **cluster.options.extra.get("kubelet", {}),
        },
    )
    cluster.api_app.logs = LogRouter(agents)
    cluster.api_app.execs = ExecRouter(agents)
    metrics = MetricsRouter(agents)
    cluster.api_app.metrics = metrics
    if cluster.client is not None:  # controllers read PodMetrics through it
        cluster.client.metrics = metrics

    def zipkin_url() -> str | None:  # read per request: the port is known only after binding
        for listener in cluster.listeners:
            if listener.name == "zipkin" and listener.sock is not None:
                return f"http://127.0.0.1:{listener.bound_port}"
        return None

    def bound_port(name: str) -> Callable[[], int | None]:
        def port() -> int | None:  # read once the cluster has bound the listener
            for listener in cluster.listeners:
                if listener.name == name and listener.sock is not None:
                    return listener.bound_port
            return None

        return port

    return [
        RbacBootstrapHook(cluster.api_app.health),  # first: written before parts watch them
        TracingCollector(
            cluster.dir.traces_db,
            zipkin_port=0 if pick else 9411,
            otlp_port=0 if pick else 4318,
            retention=retention_settings(cluster.options.extra.get("tracing")),
        ),
        *controllers(cluster.dir.root),
        SchedulerComponent(config_file=cluster.options.scheduler_config),
        LoadBalancerController(),
        ServiceProxy(table=table_name(str(cluster.dir.root)), cluster_dns=(dns_host, dns_port)),
        IngressController(
            0 if pick else default_port(cluster.options.host),
            bound_port=bound_port("ingress"),
            tls_port=0 if pick else default_tls_port(cluster.options.host),
            bound_tls_port=bound_port("ingress-https"),
        ),
        dns,
        Dashboard(
            0 if pick else DASHBOARD_PORT,
            zipkin_url=zipkin_url,
            logs=lambda: getattr(getattr(cluster, "api_app", None), "logs", None),
        ),
        *agents,  # last: cancelled first on shutdown, while the API still serves them
    ]
