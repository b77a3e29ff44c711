"""The cache keeps NodeInfos current through node and pod events, assumed pods included."""

from __future__ import annotations

from sched_builders import make_node, make_pod

from kubelite.scheduler import Cache

MB = 1024 * 1024


def test_requested_follows_pod_events() -> None:
    cache = Cache()
    cache.add_node(make_node("n", cpu="4"))
    cache.add_pod(make_pod("a", cpu="1", memory="1Gi", node="n"))
    cache.add_pod(make_pod("b", node="n"))  # best effort: counts 100m / 200Mi only as non-zero
    info = cache.get("n")
    assert (info.requested.milli_cpu, info.non_zero_requested.milli_cpu) == (1000, 1100)
    assert info.non_zero_requested.memory == 1024 * MB + 200 * MB
    cache.remove_pod(make_pod("a", node="n"))
    assert (info.requested.milli_cpu, len(info.pods)) == (0, 1)


def test_assume_then_confirm_or_forget() -> None:
    cache = Cache()
    cache.add_node(make_node("n"))
    pod = make_pod("p", cpu="2")
    assumed = cache.assume_pod(pod, "n")
    assert assumed["spec"]["nodeName"] == "n" and "nodeName" not in pod["spec"]
    assert cache.is_assumed("default/p") and cache.get("n").requested.milli_cpu == 2000
    cache.forget_pod(pod)
    assert cache.get("n").requested.milli_cpu == 0
    cache.assume_pod(pod, "n")
    cache.add_pod(assumed)  # the watch confirms the binding: counted once
    assert not cache.is_assumed("default/p") and len(cache.get("n").pods) == 1


def test_node_update_keeps_pods_and_images_are_counted_per_node() -> None:
    cache = Cache()
    cache.add_node(make_node("a", images=[(["nginx:latest"], 100 * MB)]))
    cache.add_node(make_node("b", images=[(["nginx:latest"], 100 * MB)]))
    cache.add_pod(make_pod("p", cpu="1", node="a"))
    nginx = "docker.io/library/nginx:latest"  # images are keyed by the qualified name
    assert cache.get("a").image_states[nginx].nodes == {"a", "b"}
    cache.update_node(make_node("a", cpu="8"))  # image gone from a, pods stay
    assert cache.get("a").allocatable.milli_cpu == 8000 and len(cache.get("a").pods) == 1
    assert cache.get("b").image_states[nginx].nodes == {"b"}


def test_removed_node_with_pods_leaves_the_list() -> None:
    cache = Cache()
    cache.add_node(make_node("a"))
    cache.add_pod(make_pod("p", node="a"))
    cache.remove_node("a")
    assert cache.get("a") is None and len(cache) == 0
    cache.add_node(make_node("a"))  # comes back: its pod is still accounted
    assert len(cache.get("a").pods) == 1


def test_binding_seen_on_the_watch_confirms_the_assumed_pod() -> None:
    cache = Cache()
    cache.add_node(make_node("n", cpu="4"))
    pod = make_pod("p", cpu="1", labels={"app": "web"})
    assumed = cache.assume_pod(pod, "n")
    parsed = cache.pod_info("default/p")
    assert cache.is_assumed("default/p") and parsed is not None
    bound = {**pod, "spec": {**pod["spec"], "nodeName": "n"}}
    cache.add_pod(bound)
    confirmed = cache.pod_info("default/p")
    assert not cache.is_assumed("default/p")
    assert confirmed is not None and confirmed.pod is bound  # the watched object is kept
    assert confirmed.request is parsed.request  # ... with the parse of the assumed one
    assert assumed["spec"] == bound["spec"]
    assert cache.get("n").requested.milli_cpu == 1000


def test_a_changed_pod_on_the_watch_is_parsed_afresh() -> None:
    cache = Cache()
    cache.add_node(make_node("n", cpu="4"))
    pod = make_pod("p", cpu="1")
    cache.assume_pod(pod, "n")
    changed = make_pod("p", cpu="2", node="n")  # what was stored differs from the assumption
    cache.add_pod(changed)
    assert cache.get("n").requested.milli_cpu == 2000
    assert cache.pod_info("default/p").request.milli_cpu == 2000
