"""The `pods/eviction` subresource: budgets respected, dry run, delete options, upstream wording.

Each test drives the real API app in process (store, REST storage, HTTP
routing) and plays scheduler, kubelet and disruption controller by writing
pod and budget status itself, so every number in a budget is the test's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kubelite.apiserver import errors
from kubelite.apiserver.eviction import MAX_DISRUPTED_POD_SIZE, check_and_decrement
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.rest import RestStorage
from kubelite.apiserver.subresources import bind_pod
from kubelite.store import Store

Obj = dict[str, Any]
T0 = 1_800_000_000.0
TOKEN = "t0ken"
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Api:
    storage: RestStorage
    app: ApiApp
    clock: Clock

    def post(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/json",
        query: str = "",
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.post(
                    path + (f"?{query}" if query else ""),
                    content=body,
                    headers={"authorization": f"Bearer {TOKEN}", "content-type": content_type},
                )

        return asyncio.run(go())

    def evict(self, name: str, *, query: str = "", **body: Any) -> httpx.Response:
        eviction = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": "default"},
            **body,
        }
        return self.post(
            f"/api/v1/namespaces/default/pods/{name}/eviction",
            orjson.dumps(eviction),
            query=query,
        )

    def rt(self, api_version: str, kind: str) -> Any:
        rt = self.storage.registry.by_kind(api_version, kind)
        assert rt is not None
        return rt

    def pod(self, name: str) -> Obj | None:
        kv = self.storage.store.get(self.rt("v1", "Pod").key("default", name))
        return None if kv is None else kv.obj()

    def pdb(self, name: str = "web") -> Obj:
        return self.storage.get(self.rt("policy/v1", "PodDisruptionBudget"), "default", name).obj()

    def add_pod(
        self, name: str, *, ready: bool = True, phase: str = "Running", labels: Obj | None = None
    ) -> Obj:
        """A pod as scheduler and kubelet leave it: bound to node-1, phase and Ready set."""
        pods = self.rt("v1", "Pod")
        self.storage.create(
            pods,
            "default",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": labels or {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "app:1"}]},
            },
        )
        if phase == "Pending":
            return self.storage.get(pods, "default", name).obj()
        bind_pod(self.storage, "default", name, "node-1")
        pod = self.storage.get(pods, "default", name).obj()
        pod["status"]["phase"] = phase
        pod["status"]["conditions"] = [
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": None}
        ]
        return self.storage.update(pods, "default", name, pod, subresource="status").obj()

    def add_pdb(
        self,
        name: str = "web",
        *,
        selector: Obj | None = None,
        processed: bool = True,
        **status: int,
    ) -> Obj:
        """A budget as the disruption controller leaves it (unless not yet `processed`)."""
        spec: Obj = {"selector": {"matchLabels": {"app": "web"}} if selector is None else selector}
        spec["minAvailable"] = status.get("desiredHealthy", 1)
        if "policy" in status:
            spec["unhealthyPodEvictionPolicy"] = status.pop("policy")
        rt = self.rt("policy/v1", "PodDisruptionBudget")
        pdb = self.storage.create(
            rt,
            "default",
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": name},
                "spec": spec,
            },
        ).obj()
        if not processed:
            return pdb
        pdb["status"] = {"observedGeneration": 1, "expectedPods": 3, **status}
        return self.storage.update(rt, "default", name, pdb, subresource="status").obj()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    store = Store(tmp_path / "db")
    clock = Clock()
    storage = RestStorage(store, clock=clock)
    storage.create(
        storage.registry.by_kind("v1", "Namespace"),  # type: ignore[arg-type]
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
    )
    yield Api(storage, ApiApp(storage, token=TOKEN), clock)
    store.close()


def going(pod: Obj | None) -> bool:
    """Deleted, or being deleted gracefully (a bound pod waits for its kubelet)."""
    return pod is None or bool(pod["metadata"].get("deletionTimestamp"))


def disruption_target(pod: Obj | None) -> Obj | None:
    conds = (pod or {}).get("status", {}).get("conditions") or []
    return next((c for c in conds if c["type"] == "DisruptionTarget"), None)


SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


# ---- no budget, and pods that need none ------------------------------------------


def test_without_a_budget_the_pod_is_deleted_and_marked(api: Api) -> None:
    api.add_pod("web-0")
    resp = api.evict("web-0")
    assert (resp.status_code, resp.json()) == (201, SUCCESS)
    pod = api.pod("web-0")
    assert going(pod)
    cond = disruption_target(pod)
    assert cond is not None
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "True",
        "EvictionByEvictionAPI",
        "Eviction API: evicting",
    )


@pytest.mark.parametrize(
    "phase", ["Pending", "Succeeded", "Failed"], ids=["pending", "succeeded", "failed"]
)
def test_pods_that_disrupt_nothing_skip_the_budget(api: Api, phase: str) -> None:
    api.add_pod("web-0", phase=phase)
    api.add_pdb(disruptionsAllowed=0, currentHealthy=0, desiredHealthy=3)
    assert api.evict("web-0").status_code == 201
    assert going(api.pod("web-0"))
    assert api.pdb()["status"]["disruptionsAllowed"] == 0  # nothing spent


def test_a_budget_with_an_empty_selector_guards_nothing(api: Api) -> None:
    api.add_pod("web-0")
    api.add_pdb(selector={}, disruptionsAllowed=0, currentHealthy=1, desiredHealthy=1)
    assert api.evict("web-0").status_code == 201
    assert going(api.pod("web-0"))


# ---- one budget ------------------------------------------------------------------


def test_an_allowed_eviction_spends_one_disruption_and_records_the_pod(api: Api) -> None:
    api.add_pod("web-0")
    # healthy 3, desired 2 -> the controller allows 3 - 2 = 1
    api.add_pdb(disruptionsAllowed=1, currentHealthy=3, desiredHealthy=2)
    api.clock.now = T0 + 7
    assert api.evict("web-0").status_code == 201
    status = api.pdb()["status"]
    assert status["disruptionsAllowed"] == 0
    assert status["disruptedPods"] == {"web-0": "2027-01-15T08:00:07Z"}
    cond = status["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == (
        "DisruptionAllowed",
        "False",
        "InsufficientPods",
    )
    assert going(api.pod("web-0"))


def test_a_spent_budget_answers_429_with_the_budget_cause(api: Api) -> None:
    api.add_pod("web-0")
    api.add_pdb(disruptionsAllowed=0, currentHealthy=3, desiredHealthy=3)
    resp = api.evict("web-0")
    assert resp.status_code == 429
    assert "retry-after" not in resp.headers  # clients retry on their own schedule
    assert resp.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": VIOLATION,
        "reason": "TooManyRequests",
        "details": {
            "causes": [
                {
                    "reason": "DisruptionBudget",
                    "message": "The disruption budget web needs 3 healthy pods and has 3 currently",
                }
            ]
        },
        "code": 429,
    }
    pod = api.pod("web-0")
    assert not going(pod) and disruption_target(pod) is None


def test_a_budget_the_controller_has_not_seen_yet_asks_to_retry_later(api: Api) -> None:
    api.add_pod("web-0")
    api.add_pdb(processed=False)
    resp = api.evict("web-0")
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "10"
    details = resp.json()["details"]
    assert details["retryAfterSeconds"] == 10
    assert details["causes"] == [
        {
            "reason": "DisruptionBudget",
            "message": "The disruption budget web is still being processed by the server.",
        }
    ]
    assert not going(api.pod("web-0"))


def test_two_budgets_for_one_pod_are_refused(api: Api) -> None:
    api.add_pod("web-0")
    api.add_pdb("a", disruptionsAllowed=1, currentHealthy=3, desiredHealthy=2)
    api.add_pdb("b", disruptionsAllowed=1, currentHealthy=3, desiredHealthy=2)
    resp = api.evict("web-0")
    assert resp.status_code == 500
    assert resp.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "This pod has more than one PodDisruptionBudget, which the eviction "
        "subresource does not support.",
        "code": 500,
    }
    assert not going(api.pod("web-0"))


# ---- pods that are not Ready -----------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "healthy", "desired", "allowed", "evicted"),
    [
        # IfHealthyBudget: healthy 3 >= desired 2 > 0 -> goes without spending
        ("IfHealthyBudget", 3, 2, 1, True),
        # IfHealthyBudget: healthy 1 < desired 2 -> the budget decides: 0 allowed -> 429
        ("IfHealthyBudget", 1, 2, 0, False),
        # AlwaysAllow: an unready pod always goes without spending
        ("AlwaysAllow", 1, 2, 0, True),
    ],
    ids=["healthy-budget", "unhealthy-budget", "always-allow"],
)
def test_unready_pods_follow_the_unhealthy_pod_eviction_policy(
    api: Api, policy: str, healthy: int, desired: int, allowed: int, evicted: bool
) -> None:
    api.add_pod("web-0", ready=False)
    api.add_pdb(
        policy=policy,  # type: ignore[arg-type]
        disruptionsAllowed=allowed,
        currentHealthy=healthy,
        desiredHealthy=desired,
    )
    resp = api.evict("web-0")
    assert resp.status_code == (201 if evicted else 429)
    assert going(api.pod("web-0")) is evicted
    status = api.pdb()["status"]
    assert status["disruptionsAllowed"] == allowed  # an unready pod spends nothing
    assert "disruptedPods" not in status


# ---- dry run and delete options --------------------------------------------------


@pytest.mark.parametrize(
    ("query", "body"),
    [("dryRun=All", {}), ("", {"deleteOptions": {"dryRun": ["All"]}})],
    ids=["query", "delete-options"],
)
def test_a_dry_run_checks_everything_and_writes_nothing(api: Api, query: str, body: Obj) -> None:
    api.add_pod("web-0")
    before = api.add_pdb(disruptionsAllowed=1, currentHealthy=3, desiredHealthy=2)
    resp = api.evict("web-0", query=query, **body)
    assert resp.status_code == 201
    assert api.pdb()["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    pod = api.pod("web-0")
    assert not going(pod) and disruption_target(pod) is None


def test_a_dry_run_is_still_refused_by_a_spent_budget(api: Api) -> None:
    api.add_pod("web-0")
    api.add_pdb(disruptionsAllowed=0, currentHealthy=2, desiredHealthy=2)
    resp = api.evict("web-0", query="dryRun=All")
    assert resp.status_code == 429
    assert resp.json()["details"]["causes"][0]["message"] == (
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    )


def test_grace_period_zero_deletes_at_once(api: Api) -> None:
    api.add_pod("web-0")
    resp = api.evict("web-0", deleteOptions={"gracePeriodSeconds": 0})
    assert resp.status_code == 201
    assert api.pod("web-0") is None


def test_without_grace_period_the_pod_terminates_gracefully(api: Api) -> None:
    api.add_pod("web-0")
    assert api.evict("web-0").status_code == 201
    pod = api.pod("web-0")
    assert pod is not None and pod["metadata"]["deletionGracePeriodSeconds"] == 30


def test_a_uid_precondition_that_does_not_match_is_a_conflict(api: Api) -> None:
    api.add_pod("web-0")
    resp = api.evict("web-0", deleteOptions={"preconditions": {"uid": "other"}})
    assert resp.status_code == 409
    uid = api.pod("web-0")["metadata"]["uid"]  # type: ignore[index]
    assert resp.json()["message"] == (
        f'Operation cannot be fulfilled on Pod "web-0": the UID in the precondition (other) '
        f"does not match the UID in record ({uid}). The object might have been deleted and "
        "then recreated"
    )
    assert not going(api.pod("web-0"))


def test_a_matching_resource_version_precondition_survives_the_condition_write(
    api: Api,
) -> None:
    pod = api.add_pod("web-0")
    rv = pod["metadata"]["resourceVersion"]
    resp = api.evict("web-0", deleteOptions={"preconditions": {"resourceVersion": rv}})
    assert resp.status_code == 201
    assert going(api.pod("web-0"))


def test_orphan_propagation_is_kept_on_the_pod(api: Api) -> None:
    api.add_pod("web-0")
    assert api.evict("web-0", deleteOptions={"propagationPolicy": "Orphan"}).status_code == 201
    pod = api.pod("web-0")
    assert pod is not None and "orphan" in pod["metadata"]["finalizers"]


# ---- the body --------------------------------------------------------------------


def test_the_name_in_the_body_must_match_the_url(api: Api) -> None:
    api.add_pod("web-0")
    resp = api.post(
        "/api/v1/namespaces/default/pods/web-0/eviction",
        orjson.dumps({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "x"}}),
    )
    assert resp.status_code == 400
    assert resp.json()["message"] == "name in URL does not match name in Eviction object"
    assert not going(api.pod("web-0"))


def test_policy_v1beta1_bodies_are_accepted(api: Api) -> None:
    api.add_pod("web-0")
    body = {"apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": {"name": "web-0"}}
    resp = api.post("/api/v1/namespaces/default/pods/web-0/eviction", orjson.dumps(body))
    assert resp.status_code == 201
    assert going(api.pod("web-0"))


def test_another_api_version_is_a_bad_request(api: Api) -> None:
    api.add_pod("web-0")
    body = {"apiVersion": "v1", "kind": "Eviction", "metadata": {"name": "web-0"}}
    resp = api.post("/api/v1/namespaces/default/pods/web-0/eviction", orjson.dumps(body))
    assert resp.status_code == 400
    assert resp.json()["message"] == (
        "the API version in the data (v1) does not match the expected API version (policy/v1)"
    )


def test_non_matching_dry_run_options_are_refused(api: Api) -> None:
    api.add_pod("web-0")
    resp = api.evict("web-0", query="dryRun=All", deleteOptions={"dryRun": ["Other"]})
    assert resp.status_code == 500
    assert resp.json()["message"] == (
        "Non-matching dry-run options in request and content: [All] and [Other]"
    )
    assert not going(api.pod("web-0"))


def _pb_field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (payloads here stay under 128 bytes)."""
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def _pb_varint(number: int, value: int) -> bytes:
    assert value < 128
    return bytes([number << 3, value])


@pytest.mark.parametrize("version", ["policy/v1", "policy/v1beta1"])
def test_a_protobuf_eviction_with_delete_options(api: Api, version: str) -> None:
    api.add_pod("web-0")
    meta = _pb_field(1, b"web-0") + _pb_field(3, b"default")
    eviction = _pb_field(1, meta) + _pb_field(2, _pb_varint(1, 0))  # gracePeriodSeconds: 0
    type_meta = _pb_field(1, version.encode()) + _pb_field(2, b"Eviction")
    body = b"k8s\x00" + _pb_field(1, type_meta) + _pb_field(2, eviction)
    resp = api.post(
        "/api/v1/namespaces/default/pods/web-0/eviction",
        body,
        content_type="application/vnd.kubernetes.protobuf",
    )
    assert resp.status_code == 201
    assert api.pod("web-0") is None  # gracePeriodSeconds 0 reached the delete


# ---- check_and_decrement alone ---------------------------------------------------


def _budget(**status: Any) -> Obj:
    return {
        "metadata": {"name": "web", "generation": 1},
        "status": {"observedGeneration": 1, **status},
    }


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            {"disruptionsAllowed": -1},
            'poddisruptionbudget.policy "web" is forbidden: pdb disruptions allowed is negative',
        ),
        (
            {
                "disruptionsAllowed": 1,
                "disruptedPods": {f"p{i}": "x" for i in range(MAX_DISRUPTED_POD_SIZE + 1)},
            },
            'poddisruptionbudget.policy "web" is forbidden: DisruptedPods map too big - too '
            "many evictions not confirmed by PDB controller",
        ),
    ],
    ids=["negative", "too-many-unconfirmed"],
)
def test_budgets_the_api_cannot_trust_are_forbidden(status: Obj, message: str) -> None:
    with pytest.raises(errors.Forbidden) as caught:
        check_and_decrement(_budget(**status), "web-0", now=T0, record=True)
    assert caught.value.message == message


def test_a_dry_run_decrement_records_no_pod() -> None:
    status = check_and_decrement(_budget(disruptionsAllowed=2), "web-0", now=T0, record=False)
    # 2 - 1 = 1 still allowed: the condition is left to the controller
    assert status == {"observedGeneration": 1, "disruptionsAllowed": 1}
