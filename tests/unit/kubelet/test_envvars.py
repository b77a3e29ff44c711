from __future__ import annotations

import base64

import pytest

from kubelite.kubelet import envvars
from kubelite.kubelet.envvars import EnvError, Sources, container_env


def make_pod(**labels: str) -> dict:
    return {
        "metadata": {"name": "web-1", "namespace": "ns1", "uid": "u1", "labels": labels},
        "spec": {
            "nodeName": "n1",
            "containers": [
                {"name": "c", "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}}}
            ],
        },
    }


SOURCES = Sources(
    configmaps={"cm": {"data": {"k": "v", "bad key": "x"}}, "absent": None},
    secrets={"s": {"data": {"pw": base64.b64encode(b"hunter2").decode()}}},
    node_allocatable={"cpu": "4", "memory": "8Gi"},
)


def env_of(container: dict, pod: dict | None = None) -> dict[str, str]:
    full, _ = container_env(
        pod or make_pod(),
        {"name": "c", **container},
        image_env=["PATH=/bin", "A=image"],
        pod_ip="127.244.0.9",
        host_ip="127.0.0.1",
        sources=SOURCES,
    )
    return full


@pytest.mark.parametrize(
    ("env", "name", "expected"),
    [
        pytest.param([{"name": "A", "value": "x"}], "A", "x", id="overrides-image"),
        pytest.param(
            [{"name": "U", "value": "$(POD_IP):80"}], "U", "127.244.0.9:80", id="expands-pod-ip"
        ),
        pytest.param(
            [{"name": "X", "value": "1"}, {"name": "Y", "value": "$(X)2"}],
            "Y",
            "12",
            id="expands-earlier",
        ),
        pytest.param([{"name": "Y", "value": "$(A)"}], "Y", "$(A)", id="image-env-not-expanded"),
        pytest.param(
            [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}],
            "V",
            "v",
            id="configmap",
        ),
        pytest.param(
            [{"name": "V", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}}],
            "V",
            "hunter2",
            id="secret",
        ),
        pytest.param(
            [{"name": "V", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
            "V",
            "ns1",
            id="field-ns",
        ),
        pytest.param(
            [{"name": "V", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            "V",
            "n1",
            id="field-node",
        ),
        pytest.param(
            [{"name": "V", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            "V",
            "127.244.0.9",
            id="field-ip",
        ),
        # ceil(0.5 core / 1) = 1
        pytest.param(
            [{"name": "V", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
            "V",
            "1",
            id="cpu-ceil",
        ),
        # 500m / 1m = 500
        pytest.param(
            [
                {
                    "name": "V",
                    "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}},
                }
            ],
            "V",
            "500",
            id="cpu-milli",
        ),
        # 64Mi / 1Mi = 64
        pytest.param(
            [
                {
                    "name": "V",
                    "valueFrom": {
                        "resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}
                    },
                }
            ],
            "V",
            "64",
            id="mem",
        ),
    ],
)
def test_env_values(env: list, name: str, expected: str) -> None:
    assert env_of({"env": env})[name] == expected


def test_kubelite_defaults() -> None:
    env = env_of({}, make_pod(app="shop"))
    assert env["HOSTNAME"] == "web-1"
    assert env["POD_IP"] == "127.244.0.9"
    assert env["OTEL_SERVICE_NAME"] == "shop"
    assert env_of({})["OTEL_SERVICE_NAME"] == "web-1"
    assert env["PATH"] == "/bin"


def test_env_from_skips_invalid_names_and_prefixes() -> None:
    env = env_of({"envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}]})
    assert env["CM_k"] == "v"
    assert not any(" " in k for k in env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}],
            'configmap "absent" not found',
        ),
        (
            [{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope"}}}],
            "couldn't find key nope in ConfigMap ns1/cm",
        ),
        (
            [{"name": "V", "valueFrom": {"secretKeyRef": {"name": "zz", "key": "k"}}}],
            'secret "zz" not found',
        ),
    ],
)
def test_missing_references_fail(env: list, message: str) -> None:
    with pytest.raises(EnvError, match=message):
        env_of({"env": env})


def test_optional_missing_reference_is_skipped() -> None:
    env = env_of(
        {
            "env": [
                {
                    "name": "V",
                    "valueFrom": {
                        "configMapKeyRef": {"name": "cm", "key": "nope", "optional": True}
                    },
                }
            ]
        }
    )
    assert "V" not in env


def test_label_and_annotation_files_quote_values_as_go_does() -> None:
    """upstream's FormatMap: sorted `key=%q` lines, escapes included."""
    pod = {
        "metadata": {
            "name": "p",
            "annotations": {"q": 'x"y\\z', "multi": "line1\nline2\ttab", "plain": "é"},
            "labels": {},
        }
    }
    text = envvars.field_value(pod, "metadata.annotations", pod_ip="", host_ip="")
    assert text == 'multi="line1\\nline2\\ttab"\nplain="é"\nq="x\\"y\\\\z"'
    assert envvars.field_value(pod, "metadata.labels", pod_ip="", host_ip="") == ""


def test_hostname_is_the_sandboxes() -> None:
    """As the runtime sets it: spec.hostname when given, the node's for host networking."""
    import os

    named = {"metadata": {"name": "p"}, "spec": {"hostname": "myhost"}}
    assert envvars.kubelite_env(named, "10.0.0.1")["HOSTNAME"] == "myhost"
    plain = {"metadata": {"name": "p" * 70}, "spec": {}}
    assert envvars.kubelite_env(plain, "10.0.0.1")["HOSTNAME"] == "p" * 63
    host = {"metadata": {"name": "p"}, "spec": {"hostNetwork": True, "hostname": "x"}}
    assert envvars.kubelite_env(host, "10.0.0.1")["HOSTNAME"] == os.uname().nodename


def test_envfrom_keys_that_are_not_env_names_are_skipped_and_reported() -> None:
    cm = {"data": {"ok": "1", "1num": "2", "..x": "3", "a.b-c": "4"}}
    sources = Sources(configmaps={"cfg": cm})
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {}}
    container = {"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}}]}
    env, _ = container_env(pod, container, image_env=[], pod_ip="", host_ip="", sources=sources)
    assert env["ok"] == "1" and env["a.b-c"] == "4"
    assert "1num" not in env and "..x" not in env
    assert sources.skipped == [("configMap", "cfg", ["..x", "1num"])]
    assert envvars.skipped_keys_message("configMap", "cfg", "ns", ["..x", "1num"]) == (
        "Keys [..x, 1num] from the EnvFrom configMap ns/cfg were skipped since they are "
        "considered invalid environment variable names."
    )
