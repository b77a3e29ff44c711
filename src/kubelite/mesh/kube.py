"""Kubernetes API access for services: the same code in three places.

A service built on kubelite.mesh reads EndpointSlices, ConfigMaps and Secrets
and writes Events. It finds the API the way the official client does, in this
order, so nothing changes between a laptop, a kubelite pod and a real cluster:

1. an explicit kubeconfig path passed in code;
2. in-cluster service-account config, when `KUBERNETES_SERVICE_HOST` and
   `KUBERNETES_SERVICE_PORT` are set and a token file exists. The token,
   `ca.crt` and `namespace` files are read from `KUBELITE_SERVICE_ACCOUNT_DIR`
   when set, else from the standard `/var/run/secrets/kubernetes.io/serviceaccount/`;
3. `KUBECONFIG` (or `~/.kube/config`), the laptop path.

The namespace is `POD_NAMESPACE`, else the service account's `namespace`
file, else the kubeconfig context's namespace, else `default`.

Environment contract for the kubelite node agent (what a kubelite pod sees):

- `KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT`: the API server
  (HTTPS), as on a real node;
- `KUBELITE_SERVICE_ACCOUNT_DIR`: a per-pod directory holding `token`,
  `ca.crt` and `namespace` (a process without root cannot use the standard
  path; an agent that can bind-mount it there may omit this variable);
- `POD_NAME`, `POD_NAMESPACE`, `POD_IP` (downward API style), `PORT`
  (optional, the serve port), `OTEL_SERVICE_NAME` and
  `OTEL_EXPORTER_ZIPKIN_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`.

The client is the official synchronous `kubernetes` client (already a
kubelite dependency, and the one real-cluster users know); the few calls that
wait (list, watch, create) run in worker threads so the event loop never blocks.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SERVICE_ACCOUNT_DIR",
    "ApiAccess",
    "connect",
    "current_namespace",
    "forbidden_message",
    "service_account_dir",
]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def service_account_dir(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    custom = env.get("KUBELITE_SERVICE_ACCOUNT_DIR")
    return Path(custom) if custom else SERVICE_ACCOUNT_DIR


def _in_cluster(env: dict[str, str] | os._Environ[str]) -> bool:
    if not (env.get("KUBERNETES_SERVICE_HOST") and env.get("KUBERNETES_SERVICE_PORT")):
        return False
    return (service_account_dir(dict(env)) / "token").is_file()


@dataclass(frozen=True)
class ApiAccess:
    """A configured `kubernetes.client.ApiClient` and the namespace to use."""

    api_client: Any
    namespace: str
    source: str  # "kubeconfig", "in-cluster" or "explicit"

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client)

    def discovery(self) -> Any:
        from kubernetes import client

        return client.DiscoveryV1Api(self.api_client)


def current_namespace(context_namespace: str | None = None) -> str:
    env_ns = os.environ.get("POD_NAMESPACE")
    if env_ns:
        return env_ns
    ns_file = service_account_dir() / "namespace"
    if _in_cluster(os.environ) and ns_file.is_file():
        return ns_file.read_text().strip() or "default"
    return context_namespace or "default"


def connect(kubeconfig: str | os.PathLike[str] | None = None) -> ApiAccess:
    """Find and configure the API (see the module docstring for the order)."""
    from kubernetes import client, config

    if kubeconfig is not None:
        return _from_kubeconfig(str(kubeconfig), "explicit")
    if _in_cluster(os.environ):
        sa = service_account_dir()
        configuration = client.Configuration()
        loader = config.incluster_config.InClusterConfigLoader(
            token_filename=str(sa / "token"), cert_filename=str(sa / "ca.crt")
        )
        loader.load_and_set(configuration)
        return ApiAccess(client.ApiClient(configuration), current_namespace(), "in-cluster")
    return _from_kubeconfig(None, "kubeconfig")


def _from_kubeconfig(path: str | None, source: str) -> ApiAccess:
    from kubernetes import client, config

    # The client reads KUBECONFIG once at import; read it now so a late change counts.
    path = path or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    configuration = client.Configuration()
    config.load_kube_config(config_file=path, client_configuration=configuration)
    context_ns = None
    try:
        _, active = config.list_kube_config_contexts(config_file=path)
        context_ns = (active or {}).get("context", {}).get("namespace")
    except Exception:  # a kubeconfig without contexts still has a server
        context_ns = None
    return ApiAccess(client.ApiClient(configuration), current_namespace(context_ns), source)


def forbidden_message(exc: BaseException) -> str | None:
    """The API's message when `exc` is a 403 from the client, else None."""
    if getattr(exc, "status", None) != 403:
        return None
    body = getattr(exc, "body", None)
    try:
        message = json.loads(body).get("message") if body else None
    except (ValueError, AttributeError):
        message = None
    return str(message or getattr(exc, "reason", None) or "Forbidden")
