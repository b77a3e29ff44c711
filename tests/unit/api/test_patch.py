"""JSON merge patch, JSON patch and strategic merge patch, as kube-apiserver applies them.

The strategic-merge cases at the top are the bodies kubectl 1.32 sent for
`kubectl apply` and `kubectl patch` (captured with a recording server), with
only the long last-applied-configuration annotation shortened.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api.patch import PatchError, json_merge_patch, json_patch, strategic_merge_patch

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def container(name: str, image: str = "busybox", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **fields}


def make_deployment(
    *containers: dict[str, Any],
    labels: dict[str, str] | None = None,
    finalizers: list[str] | None = None,
    strategy: dict[str, Any] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": list(containers)}
    if volumes is not None:
        pod_spec["volumes"] = volumes
    if tolerations is not None:
        pod_spec["tolerations"] = tolerations
    meta: dict[str, Any] = {"name": "web", "namespace": "default", "annotations": {}}
    if labels is not None:
        meta["labels"] = labels
    if finalizers is not None:
        meta["finalizers"] = finalizers
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": strategy or {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec},
        },
    }


def env(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


# --- strategic merge: what kubectl apply sends ----------------------------------------


def live_web_v1() -> dict[str, Any]:
    """The Deployment as the first `kubectl apply` created it."""
    return make_deployment(
        container(
            "web",
            "nginx:1.25",
            env=env(("A", "1"), ("B", "2"), ("C", "3")),
            ports=[{"containerPort": 80}, {"containerPort": 8080, "name": "alt"}],
            volumeMounts=[{"mountPath": "/data", "name": "data"}],
        ),
        container("side"),
        labels={"app": "web", "tier": "front"},
        finalizers=["example.com/a", "example.com/b"],
        strategy={"rollingUpdate": {"maxSurge": 1}, "type": "RollingUpdate"},
        volumes=[{"emptyDir": {}, "name": "data"}],
        tolerations=[{"key": "a", "operator": "Exists"}],
    )


# kubectl apply of v2: new image, port 8080 and env B removed, env C changed and D added,
# label and finalizer removed, strategy switched to Recreate, the volume switched from
# emptyDir to a ConfigMap, tolerations replaced.
APPLY_V2 = {
    "metadata": {
        "$deleteFromPrimitiveList/finalizers": ["example.com/a"],
        "$setElementOrder/finalizers": ["example.com/b"],
        "annotations": {LAST_APPLIED: "<v2>"},
        "labels": {"tier": None},
    },
    "spec": {
        "strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"},
        "template": {
            "spec": {
                "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
                "$setElementOrder/volumes": [{"name": "data"}],
                "containers": [
                    {
                        "$setElementOrder/env": [{"name": "A"}, {"name": "C"}, {"name": "D"}],
                        "$setElementOrder/ports": [{"containerPort": 80}],
                        "env": [
                            {"name": "C", "value": "4"},
                            {"name": "D", "value": "5"},
                            {"$patch": "delete", "name": "B"},
                        ],
                        "image": "nginx:1.26",
                        "name": "web",
                        "ports": [{"$patch": "delete", "containerPort": 8080}],
                    }
                ],
                "tolerations": [{"key": "b", "operator": "Exists"}],
                "volumes": [
                    {
                        "$retainKeys": ["configMap", "name"],
                        "configMap": {"name": "cfg"},
                        "emptyDir": None,
                        "name": "data",
                    }
                ],
            }
        },
    },
}

# kubectl apply of v3: only the order of the containers changed.
APPLY_V3 = {
    "metadata": {"annotations": {LAST_APPLIED: "<v3>"}},
    "spec": {
        "template": {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "web"}]}}
    },
}


def web_v2(*, containers_order: tuple[str, str] = ("web", "side")) -> dict[str, Any]:
    web = container(
        "web",
        "nginx:1.26",
        env=env(("A", "1"), ("C", "4"), ("D", "5")),
        ports=[{"containerPort": 80}],
        volumeMounts=[{"mountPath": "/data", "name": "data"}],
    )
    by_name = {"web": web, "side": container("side")}
    expected = make_deployment(
        *(by_name[n] for n in containers_order),
        labels={"app": "web"},
        finalizers=["example.com/b"],
        strategy={"type": "Recreate"},
        volumes=[{"configMap": {"name": "cfg"}, "name": "data"}],
        tolerations=[{"key": "b", "operator": "Exists"}],
    )
    expected["metadata"]["annotations"] = {LAST_APPLIED: "<v2>"}
    return expected


def test_kubectl_apply_changes() -> None:
    assert strategic_merge_patch(live_web_v1(), APPLY_V2, kind="Deployment") == web_v2()


def test_kubectl_apply_reorders_containers() -> None:
    v2 = strategic_merge_patch(live_web_v1(), APPLY_V2, kind="Deployment")
    v3 = strategic_merge_patch(v2, APPLY_V3, kind="Deployment")
    expected = web_v2(containers_order=("side", "web"))
    expected["metadata"]["annotations"] = {LAST_APPLIED: "<v3>"}
    assert v3 == expected


def test_kubectl_apply_removes_a_service_port() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc", "annotations": {LAST_APPLIED: "<v1>"}},
        "spec": {
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080},
                {"name": "https", "port": 443},
            ],
            "selector": {"app": "web"},
        },
    }
    patch = {
        "metadata": {"annotations": {LAST_APPLIED: "<v2>"}},
        "spec": {
            "$setElementOrder/ports": [{"port": 80}],
            "ports": [{"port": 80, "targetPort": 9090}, {"$patch": "delete", "port": 443}],
        },
    }
    result = strategic_merge_patch(live, patch, kind="Service")
    assert result["spec"] == {
        "ports": [{"name": "http", "port": 80, "targetPort": 9090}],
        "selector": {"app": "web"},
    }


def test_kubectl_apply_removes_configmap_keys_and_annotations() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "annotations": {LAST_APPLIED: "<v1>", "note": "x"}},
        "data": {"a": "1", "b": "2"},
    }
    patch = {
        "data": {"a": "10", "b": None},
        "metadata": {"annotations": {LAST_APPLIED: "<v2>", "note": None}},
    }
    result = strategic_merge_patch(live, patch, kind="ConfigMap")
    assert result["data"] == {"a": "10"}
    assert result["metadata"]["annotations"] == {LAST_APPLIED: "<v2>"}


def test_kubectl_patch_default_is_strategic() -> None:
    # `kubectl patch deployment web -p '{"spec":{"replicas":3}}'`
    result = strategic_merge_patch(live_web_v1(), {"spec": {"replicas": 3}}, kind="Deployment")
    assert result["spec"]["replicas"] == 3
    assert result["spec"]["template"] == live_web_v1()["spec"]["template"]


def test_server_only_items_keep_their_place() -> None:
    # Live env has D, added by someone else; last-applied had [A, B], the new config
    # [B, C]. Upstream interleaves D between the patch's items by its live position.
    live = make_deployment(container("app", env=env(("A", "1"), ("B", "2"), ("D", "4"))))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [
                        {
                            "name": "app",
                            "$setElementOrder/env": [{"name": "B"}, {"name": "C"}],
                            "env": [{"name": "C", "value": "3"}, {"$patch": "delete", "name": "A"}],
                        }
                    ],
                }
            }
        }
    }
    result = strategic_merge_patch(live, patch, kind="Deployment")
    names = [e["name"] for e in result["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert names == ["B", "D", "C"]


def test_added_items_follow_the_patch_order() -> None:
    live = make_deployment(container("a"), container("b"))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "a"}, {"name": "new"}, {"name": "b"}],
                    "containers": [container("new")],
                }
            }
        }
    }
    result = strategic_merge_patch(live, patch, kind="Deployment")
    assert [c["name"] for c in result["spec"]["template"]["spec"]["containers"]] == [
        "a",
        "new",
        "b",
    ]


# --- strategic merge: directives and strategies --------------------------------------


def patch_pod_spec(spec_patch: dict[str, Any], **live_spec: Any) -> dict[str, Any]:
    live = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": live_spec}
    return strategic_merge_patch(live, {"spec": spec_patch}, kind="Pod")["spec"]


@pytest.mark.parametrize(
    ("live", "patch", "expected"),
    [
        pytest.param(
            {"containers": [container("a", ports=[{"containerPort": 80}])]},
            {"containers": [{"name": "a", "ports": [{"containerPort": 81}]}]},
            {"containers": [container("a", ports=[{"containerPort": 81}, {"containerPort": 80}])]},
            id="container ports merge by containerPort",
        ),
        pytest.param(
            {"containers": [container("a", env=env(("X", "1")), envFrom=[{"configMapRef": {"name": "a"}}])]},
            {"containers": [{"name": "a", "envFrom": [{"secretRef": {"name": "s"}}]}]},
            {"containers": [container("a", env=env(("X", "1")), envFrom=[{"secretRef": {"name": "s"}}])]},
            id="envFrom has no strategy: replaced",
        ),
        pytest.param(
            {"containers": [container("a", volumeMounts=[{"name": "v", "mountPath": "/a"}])]},
            {"containers": [{"name": "a", "volumeMounts": [{"name": "v", "mountPath": "/b"}]}]},
            {"containers": [container("a", volumeMounts=[
                {"name": "v", "mountPath": "/b"}, {"name": "v", "mountPath": "/a"}])]},
            id="volumeMounts merge by mountPath",
        ),
        pytest.param(
            {"imagePullSecrets": [{"name": "a"}]},
            {"imagePullSecrets": [{"name": "b"}]},
            {"imagePullSecrets": [{"name": "b"}, {"name": "a"}]},
            id="imagePullSecrets merge by name",
        ),
        pytest.param(
            {"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["a"]}]},
            {"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}]},
            {"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}]},
            id="hostAliases merge by ip",
        ),
        pytest.param(
            {"topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1}]},
            {"topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}]},
            {"topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}]},
            id="topologySpreadConstraints merge by topologyKey",
        ),
        pytest.param(
            {"tolerations": [{"key": "a", "operator": "Exists"}]},
            {"tolerations": [{"key": "b", "operator": "Exists"}]},
            {"tolerations": [{"key": "b", "operator": "Exists"}]},
            id="tolerations have no strategy: replaced",
        ),
        pytest.param(
            {"nodeSelector": {"a": "1", "b": "2"}},
            {"nodeSelector": {"$patch": "replace", "c": "3"}},
            {"nodeSelector": {"c": "3"}},
            id="$patch replace on a map",
        ),
        pytest.param(
            {"nodeSelector": {"a": "1"}},
            {"nodeSelector": {"$patch": "delete"}},
            {"nodeSelector": {}},
            id="$patch delete on a map",
        ),
        pytest.param(
            {"containers": [container("a"), container("b")]},
            {"containers": [container("c"), {"$patch": "replace"}]},
            {"containers": [container("c")]},
            id="$patch replace on a list",
        ),
        pytest.param(
            {"containers": [container("a"), container("b")]},
            {"containers": [{"name": "a", "$patch": "delete"}]},
            {"containers": [container("b")]},
            id="$patch delete of a list element",
        ),
        pytest.param(
            {"volumes": [{"name": "d", "emptyDir": {}}]},
            {"volumes": [{"$retainKeys": ["name", "hostPath"], "name": "d", "hostPath": {"path": "/x"}}]},
            {"volumes": [{"name": "d", "hostPath": {"path": "/x"}}]},
            id="$retainKeys in a list element",
        ),
        pytest.param(
            {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst"},
            {"dnsPolicy": None, "hostname": "h"},
            {"restartPolicy": "Always", "hostname": "h"},
            id="null deletes a field",
        ),
        pytest.param(
            {},
            {"securityContext": {"runAsUser": 1, "runAsGroup": None}},
            {"securityContext": {"runAsUser": 1}},
            id="nulls in a new value are dropped",
        ),
    ],
)  # fmt: skip
def test_pod_spec_strategies(live: dict, patch: dict, expected: dict) -> None:
    assert patch_pod_spec(patch, **live) == expected


def test_finalizers_are_a_merged_set() -> None:
    live = {"metadata": {"name": "x", "finalizers": ["a", "b"]}}
    added = strategic_merge_patch(live, {"metadata": {"finalizers": ["c", "a"]}}, kind="ConfigMap")
    assert added["metadata"]["finalizers"] == ["c", "a", "b"]
    removed = strategic_merge_patch(
        live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, kind="Namespace"
    )
    assert removed["metadata"]["finalizers"] == ["b"]
    ordered = strategic_merge_patch(
        live,
        {"metadata": {"$setElementOrder/finalizers": ["b", "c"], "finalizers": ["c"]}},
        kind="Secret",
    )
    assert ordered["metadata"]["finalizers"] == ["a", "b", "c"]


def test_owner_references_merge_by_uid() -> None:
    live = {"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "controller": True}]}}
    patch = {
        "metadata": {
            "ownerReferences": [{"uid": "2", "name": "b"}, {"uid": "1", "controller": None}]
        }
    }
    result = strategic_merge_patch(live, patch, kind="ReplicaSet")
    assert result["metadata"]["ownerReferences"] == [
        {"uid": "2", "name": "b"},
        {"uid": "1", "name": "a"},
    ]


@pytest.mark.parametrize(
    "kind", ["Pod", "Deployment", "Node", "Namespace", "PersistentVolumeClaim"]
)
def test_status_conditions_merge_by_type(kind: str) -> None:
    live = {
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}, {"type": "X", "status": "True"}]
        }
    }
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    result = strategic_merge_patch(live, patch, kind=kind)
    assert result["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "X", "status": "True"},
    ]


def test_node_taints_are_replaced_and_addresses_merged() -> None:
    live = {
        "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}], "podCIDRs": ["10.0.0.0/24"]},
        "status": {"addresses": [{"type": "InternalIP", "address": "1.1.1.1"}]},
    }
    patch = {
        "spec": {"taints": [{"key": "b", "effect": "NoSchedule"}], "podCIDRs": ["10.0.1.0/24"]},
        "status": {"addresses": [{"type": "Hostname", "address": "n1"}]},
    }
    result = strategic_merge_patch(live, patch, kind="Node")
    assert result["spec"]["taints"] == [{"key": "b", "effect": "NoSchedule"}]
    assert result["spec"]["podCIDRs"] == ["10.0.1.0/24", "10.0.0.0/24"]
    assert result["status"]["addresses"] == [
        {"type": "Hostname", "address": "n1"},
        {"type": "InternalIP", "address": "1.1.1.1"},
    ]


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("Deployment", ("spec", "template", "spec")),
        ("StatefulSet", ("spec", "template", "spec")),
        ("ReplicaSet", ("spec", "template", "spec")),
        ("DaemonSet", ("spec", "template", "spec")),
        ("Job", ("spec", "template", "spec")),
        ("CronJob", ("spec", "jobTemplate", "spec", "template", "spec")),
    ],
)
def test_pod_templates_merge_containers(kind: str, path: tuple[str, ...]) -> None:
    def nest(value: dict[str, Any]) -> dict[str, Any]:
        for key in reversed(path):
            value = {key: value}
        return value

    live = nest({"containers": [container("a"), container("b")]})
    result = strategic_merge_patch(
        live, nest({"containers": [{"name": "b", "image": "x"}]}), kind=kind
    )
    for key in path:
        result = result[key]
    assert result["containers"] == [container("a"), container("b", "x")]


def test_deployment_strategy_retain_keys() -> None:
    live = make_deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}})
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert strategic_merge_patch(live, patch, kind="Deployment")["spec"]["strategy"] == {
        "type": "Recreate"
    }


def test_unknown_kinds_merge_maps_and_replace_lists() -> None:
    live = {"metadata": {"finalizers": ["a"]}, "spec": {"items": [{"name": "a"}], "m": {"x": 1}}}
    patch = {"metadata": {"finalizers": ["b"]}, "spec": {"items": [{"name": "b"}], "m": {"y": 2}}}
    result = strategic_merge_patch(live, patch, kind="Widget")
    assert result == {
        "metadata": {"finalizers": ["b", "a"]},  # ObjectMeta is the same everywhere
        "spec": {"items": [{"name": "b"}], "m": {"x": 1, "y": 2}},
    }


def test_top_level_directives() -> None:
    live = {"a": 1, "b": {"c": 2}}
    assert strategic_merge_patch(live, {"$patch": "replace", "z": 1}, kind="ConfigMap") == {"z": 1}
    assert strategic_merge_patch(live, {"$patch": "delete"}, kind="ConfigMap") == {}


def test_stored_nulls_read_as_absent() -> None:
    # upstream patches the typed object, where a null field is simply unset
    live = make_deployment(container("a", env=None))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "a",
                            "$setElementOrder/env": [{"name": "X"}],
                            "env": env(("X", "1")),
                        }
                    ]
                }
            }
        }
    }
    result = strategic_merge_patch(live, patch, kind="Deployment")
    assert result["spec"]["template"]["spec"]["containers"] == [container("a", env=env(("X", "1")))]


def test_inputs_are_not_mutated() -> None:
    live, patch = live_web_v1(), copy.deepcopy(APPLY_V2)
    strategic_merge_patch(live, patch, kind="Deployment")
    assert live == live_web_v1()
    assert patch == APPLY_V2


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"spec": {"containers": [{"image": "x"}]}},
         "map: map[image:x] does not contain declared merge key: name"),
        ({"spec": {"containers": [{"name": "a", "$patch": "merge"}]}},
         "merging lists cannot yet be specified in the patch"),
        ({"spec": {"containers": [{"name": "a", "$patch": "bogus"}]}},
         "unknown patch type: bogus in map: map[$patch:bogus name:a]"),
        ({"spec": {"nodeSelector": {"$patch": "merge"}}},
         "unknown patch type: merge in map: map[$patch:merge]"),
        ({"spec": {"$retainKeys": ["a"], "hostname": "h"}}, "invalid patch format of retainKeys"),
        ({"spec": {"$retainKeys": "a"}}, "invalid patch format of retainKeys"),
        ({"spec": {"$setElementOrder/containers": [{"name": "b"}], "containers": [container("a")]}},
         "The order in patch list:\n[map[image:busybox name:a]]\n doesn't match "
         "$setElementOrder list:\n[map[name:b]]\n"),
        ({"spec": {"containers": [["nested"]]}},
         "list element types are not identical: [[map[image:busybox name:a]] [[nested]]]"),
        ({"spec": {"hostAliases": [["nested"]]}}, "lists of lists are not supported"),
    ],
)  # fmt: skip
def test_strategic_errors(patch: dict, message: str) -> None:
    live = {
        "spec": {
            "containers": [container("a")],
            "nodeSelector": {"x": "y"},
            "hostAliases": [],
        }
    }
    with pytest.raises(PatchError) as info:
        strategic_merge_patch(live, patch, kind="Pod")
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


# --- JSON merge patch (RFC 7386, appendix A) ----------------------------------------

RFC7386 = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386)
def test_json_merge_patch_rfc7386(target: Any, patch: Any, expected: Any) -> None:
    assert json_merge_patch(target, patch) == expected


def test_json_merge_patch_prunes_nulls_inside_added_lists() -> None:
    # evanphx/json-patch (kube-apiserver's library) prunes nulls in objects inside arrays
    assert json_merge_patch({}, {"a": [{"b": None, "c": 1}, None]}) == {"a": [{"c": 1}, None]}


def test_json_merge_patch_does_not_mutate() -> None:
    target = {"metadata": {"labels": {"a": "1"}}}
    patch = {"metadata": {"labels": {"a": None, "b": "2"}}}
    assert json_merge_patch(target, patch) == {"metadata": {"labels": {"b": "2"}}}
    assert target == {"metadata": {"labels": {"a": "1"}}}
    assert patch == {"metadata": {"labels": {"a": None, "b": "2"}}}


# --- JSON patch (RFC 6902) -----------------------------------------------------------

JSON_PATCH = [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"foo": "bar", "baz": "qux"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
     {"foo": ["bar", "qux", "baz"]}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": "x"}], {"foo": ["bar", "x"]}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/-1", "value": "qux"}],
     {"foo": ["bar", "baz", "qux"]}),  # the library counts negative indices from the end
    ({"a": 1, "b": 2}, [{"op": "remove", "path": "/a"}], {"b": 2}),
    ({"foo": ["a", "b", "c"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["a", "c"]}),
    ({"foo": ["a", "b", "c"]}, [{"op": "remove", "path": "/foo/-1"}], {"foo": ["a", "b"]}),
    ({"spec": {"replicas": 1}}, [{"op": "replace", "path": "/spec/replicas", "value": 4}],
     {"spec": {"replicas": 4}}),
    ({"a": {}}, [{"op": "replace", "path": "/a/new", "value": 1}], {"a": {"new": 1}}),
    ({"a": {"b": 1}, "c": {}}, [{"op": "move", "from": "/a/b", "path": "/c/d"}],
     {"a": {}, "c": {"d": 1}}),
    ({"l": [1, 2, 3]}, [{"op": "move", "from": "/l/0", "path": "/l/2"}], {"l": [2, 3, 1]}),
    ({"a": {"b": [1]}}, [{"op": "copy", "from": "/a/b", "path": "/c"}],
     {"a": {"b": [1]}, "c": [1]}),
    ({"a/b": 1, "m~n": 2}, [{"op": "test", "path": "/a~1b", "value": 1},
                             {"op": "test", "path": "/m~0n", "value": 2},
                             {"op": "remove", "path": "/m~0n"}], {"a/b": 1}),
    ({"a": 1}, [{"op": "test", "path": "/missing", "value": None}], {"a": 1}),
    ({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}], {"b": 2}),
    ({"metadata": {"annotations": {"x": "1"}}, "spec": {"template": {"a": 1}}},
     [{"op": "replace", "path": "/spec/template", "value": {"b": 2}},
      {"op": "replace", "path": "/metadata/annotations", "value": {"y": "2"}}],
     {"metadata": {"annotations": {"y": "2"}}, "spec": {"template": {"b": 2}}}),  # rollout undo
]  # fmt: skip


@pytest.mark.parametrize(("target", "ops", "expected"), JSON_PATCH)
def test_json_patch(target: Any, ops: list, expected: Any) -> None:
    before = copy.deepcopy(target)
    assert json_patch(target, ops) == expected
    assert target == before


def test_json_patch_values_are_copied() -> None:
    value = {"x": [1]}
    result = json_patch(
        {},
        [{"op": "add", "path": "/a", "value": value}, {"op": "copy", "from": "/a", "path": "/b"}],
    )
    result["a"]["x"].append(2)
    assert value == {"x": [1]}
    assert result["b"] == {"x": [1]}


JSON_PATCH_ERRORS = [
    ({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": 1}],
     'add operation does not apply: doc is missing path: "/baz/bat": missing value'),
    ({"a": {"b": {}}}, [{"op": "remove", "path": "/a/b/c"}],
     "error in remove for path: '/a/b/c': Unable to remove nonexistent key: c: missing value"),
    ({"a": {"b": [1]}}, [{"op": "remove", "path": "/a/b/1"}],
     "error in remove for path: '/a/b/1': Unable to access invalid index: 1: invalid index referenced"),
    ({"foo": []}, [{"op": "remove", "path": "/foo/-"}],
     "error in remove for path: '/foo/-': strconv.Atoi: parsing \"-\": invalid syntax"),
    ({"a": {}}, [{"op": "move", "from": "/a/x", "path": "/a/y"}],
     "error in move for path: 'x': Unable to remove nonexistent key: x: missing value"),
    ({"foo": "bar"}, [{"op": "add", "value": 1}], "add operation failed to decode path: missing value"),
    ({"foo": "bar"}, [{"op": "add", "path": "", "value": 1}],
     'add operation does not apply: doc is missing path: "": missing value'),
    ({"foo": ["a"]}, [{"op": "replace", "path": "/foo/2", "value": 1}],
     "replace operation does not apply: doc is missing key: /foo/2: missing value"),
    ({"foo": ["a"]}, [{"op": "add", "path": "/foo/3", "value": 1}],
     "error in add for path: '/foo/3': Unable to access invalid index: 3: invalid index referenced"),
    ({"foo": ["a"]}, [{"op": "add", "path": "/foo/x", "value": 1}],
     "error in add for path: '/foo/x': value was not a proper array index: 'x': "
     'strconv.Atoi: parsing "x": invalid syntax'),
    ({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}],
     "testing value /baz failed: test failed"),
    ({"foo": [1]}, [{"op": "test", "path": "/foo/0", "value": 1.0}],
     "testing value /foo/0 failed: test failed"),  # 1 and 1.0 differ as JSON text
    ({"foo": {}}, [{"op": "test", "path": "/foo", "value": None}],
     "testing value /foo failed: test failed"),
    ({"a": 1}, [{"op": "copy", "path": "/b"}],
     "copy operation failed to decode from: operation, missing from field: missing value"),
    ({"a": 1}, [{"op": "frobnicate", "path": "/a"}], "Unexpected kind: frobnicate"),
    ({"a": 1}, [{"path": "/a"}], "Unexpected kind: unknown"),
    ({"a": 1}, {"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
    ({"a": 1}, ["add"], "json: cannot unmarshal string into Go value of type jsonpatch.Operation"),
]  # fmt: skip


@pytest.mark.parametrize(("target", "ops", "message"), JSON_PATCH_ERRORS)
def test_json_patch_errors(target: Any, ops: Any, message: str) -> None:
    with pytest.raises(PatchError) as info:
        json_patch(target, ops)
    assert str(info.value) == message


def test_json_patch_copy_size_is_bounded() -> None:
    big = "x" * (1024 * 1024)
    ops = [{"op": "copy", "from": "/a", "path": f"/b{i}"} for i in range(4)]
    with pytest.raises(PatchError, match="the accumulated size increase of copy is"):
        json_patch({"a": big}, ops)
