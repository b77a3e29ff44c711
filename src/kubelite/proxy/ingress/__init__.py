"""The built-in ingress controller: networking.k8s.io/v1 Ingresses over HTTP and WebSocket.

What k3s's bundled controller gives, the kubelite way: `IngressController`
is a part of `kubelite up` that serves the Ingresses of the `kubelite` class
(controller `kubelite.io/ingress`) on a listener of its own (port 80 when it
may bind it, else 8080, else a free one; a free one with `--port 0`) and
HTTPS (443, else 8443, else a free one) with the certificates `spec.tls` names, routing by host and path to
ready endpoints of the backend Services.

- `routes`: the routing table, pure (host and path precedence, default backend);
- `annotations`: ingress-nginx's `nginx.ingress.kubernetes.io/*` annotations, read
  into a per-route `Policy` when the table is built;
- `policy`: what an annotated route does to a request (redirects, CORS,
  allowlists, rewrites, canaries, limits, deadlines, HTTPS to the pod);
- `endpoints`: backend Service port to ready endpoints, round robin;
- `forwarding`: the reverse proxy (an ASGI app on the listener);
- `listener`: the listener's HTTP parser (uvicorn's, keeping an absolute-form target's host);
- `upstream`: keep-alive HTTP/1.1 connections to the pods;
- `websocket`: WebSocket upgrades, relayed message by message to the pod;
- `tls`: the HTTPS listener's context, a certificate per host chosen by SNI;
- `status`: the address written to each served Ingress;
- `controller`: the component that watches and ties these together.
"""

from __future__ import annotations

from kubelite.proxy.ingress.controller import (
    CONTROLLER_NAME,
    IngressController,
    default_port,
    default_tls_port,
)

__all__ = ["CONTROLLER_NAME", "IngressController", "default_port", "default_tls_port"]
