"""The environment a container sees, built as upstream's kubelet builds it.

Order: the image's Env, then what kubelite always sets (HOSTNAME, POD_IP,
OTEL_SERVICE_NAME), then the Service variables (`Sources.services`), then
`envFrom` sources in order, then `env` entries in order, each
`$(VAR)`-expanded against the entries before it (Service variables
included), so a container's own `env` overrides a Service variable. A missing
ConfigMap/Secret or key is an `EnvError` carrying upstream's message (the
container waits with CreateContainerConfigError) unless marked optional.

`HOME`, when none of these sets it, is what runc sets: the home directory of
the container's user in the container's `/etc/passwd` (`passwd_home`).
"""

from __future__ import annotations

import base64
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from kubelite.api.gofmt import go_quote
from kubelite.api.quantity import parse_quantity
from kubelite.kubelet.command import expand

Obj = dict[str, Any]

_C_IDENTIFIER = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class EnvError(Exception):
    """The container cannot be configured: reason CreateContainerConfigError."""


@dataclass
class Sources:
    """Objects env may read, looked up by the caller before building."""

    configmaps: Mapping[str, Obj | None] = field(default_factory=dict)
    secrets: Mapping[str, Obj | None] = field(default_factory=dict)
    node_allocatable: Mapping[str, str] = field(default_factory=dict)
    services: Mapping[str, str] = field(default_factory=dict)  # Service env, see services.py
    # Filled while building: the envFrom keys left out as invalid names, per source
    # ("configMap"/"secret", its name, the keys), for the kubelet's warning event.
    skipped: list[tuple[str, str, list[str]]] = field(default_factory=list)


def referenced_objects(container: Obj) -> tuple[set[str], set[str]]:
    """(configmap names, secret names) a container's env refers to."""
    cms: set[str] = set()
    secrets: set[str] = set()
    for src in container.get("envFrom") or []:
        if "configMapRef" in src:
            cms.add(src["configMapRef"]["name"])
        if "secretRef" in src:
            secrets.add(src["secretRef"]["name"])
    for var in container.get("env") or []:
        ref = var.get("valueFrom") or {}
        if "configMapKeyRef" in ref:
            cms.add(ref["configMapKeyRef"]["name"])
        if "secretKeyRef" in ref:
            secrets.add(ref["secretKeyRef"]["name"])
    return cms, secrets


def pod_hostname(pod: Obj) -> str:
    """`spec.hostname` when set (an Indexed Job's `<job>-<index>`), else the pod's
    name cut to a DNS label, as the kubelet names a pod's host."""
    return (pod.get("spec") or {}).get("hostname") or pod["metadata"]["name"][:63]


def kubelite_env(pod: Obj, pod_ip: str) -> dict[str, str]:
    md = pod["metadata"]
    labels = md.get("labels") or {}
    service = labels.get("app.kubernetes.io/name") or labels.get("app") or md["name"]
    # As the runtime sets it: the sandbox's hostname, the node's for host networking.
    host_network = (pod.get("spec") or {}).get("hostNetwork")
    return {
        "HOSTNAME": os.uname().nodename if host_network else pod_hostname(pod),
        "POD_IP": pod_ip,
        "POD_NAME": md["name"],
        "POD_NAMESPACE": md.get("namespace", "default"),
        "OTEL_SERVICE_NAME": service,
    }


def container_env(
    pod: Obj, container: Obj, *, image_env: list[str], pod_ip: str, host_ip: str, sources: Sources
) -> tuple[dict[str, str], dict[str, str]]:
    """(full process env, the kubelet-defined part used for `$(VAR)` in command/args)."""
    own = kubelite_env(pod, pod_ip)
    # Service variables after kubelite's own, which win (seven per Service: in bulk).
    defined = dict(own)
    defined.update(sources.services)
    defined.update(own)
    ns = pod["metadata"].get("namespace", "default")
    for src in container.get("envFrom") or []:
        defined.update(_env_from(src, ns, sources))
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" in (var or {}):
            found = _value_from(pod, container, var["valueFrom"], ns, pod_ip, host_ip, sources)
            if found is None:
                continue
            value = found
        else:
            value = expand(var.get("value") or "", defined)
        defined[name] = value
    full = dict(_split(e) for e in image_env)
    full.update(defined)
    return full, defined


def _split(entry: str) -> tuple[str, str]:
    key, _, value = entry.partition("=")
    return key, value


def _object(sources: Mapping[str, Obj | None], name: str) -> Obj | None:
    return sources.get(name)


def _env_from(src: Obj, ns: str, sources: Sources) -> dict[str, str]:
    prefix = src.get("prefix") or ""
    if "configMapRef" in src:
        ref = src["configMapRef"]
        obj = _object(sources.configmaps, ref["name"])
        if obj is None:
            if ref.get("optional"):
                return {}
            raise EnvError(f'configmap "{ref["name"]}" not found')
        data = dict(obj.get("data") or {})
    else:
        ref = src["secretRef"]
        obj = _object(sources.secrets, ref["name"])
        if obj is None:
            if ref.get("optional"):
                return {}
            raise EnvError(f'secret "{ref["name"]}" not found')
        data = {k: _b64(v) for k, v in (obj.get("data") or {}).items()}
        data.update(obj.get("stringData") or {})
    out, invalid = {}, []
    for key, value in data.items():
        name = prefix + key
        if is_env_var_name(name):
            out[name] = value
        else:
            invalid.append(name)
    if invalid:
        kind = "configMap" if "configMapRef" in src else "secret"
        sources.skipped.append((kind, ref["name"], sorted(invalid)))
    return out


def is_env_var_name(name: str) -> bool:
    """Upstream's IsEnvVarName, which the kubelet checks envFrom keys with."""
    return bool(_C_IDENTIFIER.match(name)) and not (name in (".", "..") or name.startswith(".."))


def skipped_keys_message(kind: str, name: str, namespace: str, keys: list[str]) -> str:
    """The kubelet's InvalidEnvironmentVariableNames event message."""
    return (
        f"Keys [{', '.join(keys)}] from the EnvFrom {kind} {namespace}/{name} were skipped "
        "since they are considered invalid environment variable names."
    )


def _b64(value: str) -> str:
    return base64.b64decode(value).decode("utf-8", errors="replace")


def _value_from(
    pod: Obj, container: Obj, ref: Obj, ns: str, pod_ip: str, host_ip: str, sources: Sources
) -> str | None:
    if "configMapKeyRef" in ref:
        return _key_ref(ref["configMapKeyRef"], sources.configmaps, ns, "configmap", "ConfigMap")
    if "secretKeyRef" in ref:
        return _key_ref(ref["secretKeyRef"], sources.secrets, ns, "secret", "Secret")
    if "fieldRef" in ref:
        return field_value(pod, ref["fieldRef"]["fieldPath"], pod_ip=pod_ip, host_ip=host_ip)
    if "resourceFieldRef" in ref:
        return resource_value(pod, container, ref["resourceFieldRef"], sources.node_allocatable)
    return None


def _key_ref(
    ref: Obj, objects: Mapping[str, Obj | None], ns: str, lower: str, kind: str
) -> str | None:
    obj = _object(objects, ref["name"])
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise EnvError(f'{lower} "{ref["name"]}" not found')
    key = ref["key"]
    if kind == "Secret":
        data = {k: _b64(v) for k, v in (obj.get("data") or {}).items()}
        data.update(obj.get("stringData") or {})
    else:
        data = dict(obj.get("data") or {})
    if key not in data:
        if optional:
            return None
        raise EnvError(f"couldn't find key {key} in {kind} {ns}/{ref['name']}")
    return str(data[key])


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_value(pod: Obj, path: str, *, pod_ip: str, host_ip: str) -> str:
    md = pod["metadata"]
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": md.get("name", ""),
        "metadata.namespace": md.get("namespace", "default"),
        "metadata.uid": md.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path])
    m = _SUBSCRIPT.match(path)
    if m:
        return str((md.get(m.group(1)) or {}).get(m.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = md.get(path.split(".")[1]) or {}
        # upstream's FormatMap: one `key=%q` line per key, sorted
        return "\n".join(f"{k}={go_quote(str(v))}" for k, v in sorted(items.items()))
    raise EnvError(f"unsupported fieldPath: {path}")


def resource_value(pod: Obj, container: Obj, ref: Obj, allocatable: Mapping[str, str]) -> str:
    """Upstream's ExtractContainerResourceValue: ceil(quantity / divisor)."""
    name = ref.get("containerName") or container["name"]
    target = next(
        (
            c
            for c in (pod["spec"].get("containers") or [])
            + (pod["spec"].get("initContainers") or [])
            if c["name"] == name
        ),
        container,
    )
    kind, _, resource = ref["resource"].partition(".")
    resources = target.get("resources") or {}
    raw = (resources.get(kind) or {}).get(resource)
    if raw is None and kind == "limits":
        raw = allocatable.get(resource)
    if raw is None and kind == "requests":
        raw = "0"
    divisor = parse_quantity(ref.get("divisor") or "1") or Fraction(1)
    quantity = parse_quantity(raw or "0")
    return str(math.ceil(quantity / divisor))


def run_as_user(pod: Obj, container: Obj) -> int | None:
    """`securityContext.runAsUser`: the container's, else the pod's."""
    for sc in (container.get("securityContext"), (pod.get("spec") or {}).get("securityContext")):
        uid = (sc or {}).get("runAsUser")
        if uid is not None:
            return int(uid)
    return None


def passwd_home(passwd: str | None, user: str) -> str:
    """The `HOME` runc gives a process whose environment has none (or an empty one):
    the home field of the first passwd entry of `user` (a uid when numeric, else
    a name; `name:group` takes the name), "/" when there is none."""
    name = user.partition(":")[0]
    column, wanted = (2, str(int(name))) if name.isdigit() else (0, name)
    for line in (passwd or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 6 and fields[column] == wanted:
            return fields[5]
    return "/"
