"""Request bodies in `application/vnd.kubernetes.protobuf`, decoded to JSON-shaped dicts.

kubectl 1.32's typed clients send their creates as protobuf (`kubectl create
configmap|secret|namespace|...`, and the Pods of `kubectl debug`): the magic
bytes `k8s\\x00`, then a `runtime.Unknown` whose `raw` field holds the object's
message. We decode the protobuf wire format by hand (varints and
length-delimited fields are all Kubernetes uses) against a table of the
upstream field numbers, taken from the `generated.proto` files of k8s.io/api
and k8s.io/apimachinery v0.32. No generated code is involved. The field
descriptors are in `protobuf_schema.py`, the Pod's tables (the largest) in
`protobuf_core.py`.

The result is what the JSON form of the same object would be: gogo-protobuf
writes every non-pointer field even when empty, so empty strings, zero numbers
and false booleans are dropped here as `omitempty` would drop them, while
pointer fields (`immutable`, `deletionGracePeriodSeconds`, ...) are kept when
present. Bytes become base64 strings; `Time` becomes RFC 3339.

A field missing from the table is skipped when it holds its zero value (Go
always writes those) and is an error otherwise, so we never silently drop data.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import struct
from collections.abc import Callable
from typing import Any

from kubelite.api.protobuf_certificates import CERTIFICATES_MESSAGES
from kubelite.api.protobuf_core import CORE_MESSAGES
from kubelite.api.protobuf_schema import (
    _F,
    Schema,
    _b,
    _i,
    _inline,
    _intstr,
    _m,
    _map,
    _s,
    _strings,
)

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """A body that is not a protobuf-encoded object we can decode."""


def is_k8s_protobuf(body: bytes) -> bool:
    return body[:4] == MAGIC


# --- the wire format -------------------------------------------------------------------

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise ProtobufError("varint too long")


def encode_varint(n: int) -> bytes:
    """A non-negative integer as a protobuf varint."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


# Encoding one field. proto3 leaves scalars at their zero value off the wire;
# the callers decide that (a message field is written whenever it is present).


def bytes_field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: a string, bytes, or an embedded message."""
    return encode_varint(number << 3 | _BYTES) + encode_varint(len(payload)) + payload


def varint_field(number: int, n: int) -> bytes:
    """An int32/int64/bool field (a negative number as its 64-bit two's complement)."""
    return encode_varint(number << 3 | _VARINT) + encode_varint(n & 0xFFFFFFFFFFFFFFFF)


def double_field(number: int, x: float) -> bytes:
    return encode_varint(number << 3 | _FIXED64) + struct.pack("<d", x)


def fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """Split a message into (field number, wire type, value) in wire order."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ProtobufError("invalid field number 0")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _BYTES:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ProtobufError(
                    f"field {number}: length {size} runs past the end of the message"
                )
            value, pos = buf[pos : pos + size], pos + size
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if pos + width > len(buf):
                raise ProtobufError(f"field {number}: truncated fixed-width value")
            value, pos = int.from_bytes(buf[pos : pos + width], "little"), pos + width
        else:
            raise ProtobufError(f"field {number}: unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


# --- the schema ------------------------------------------------------------------------

_MESSAGES: dict[str, Schema] = {
    # k8s.io/apimachinery/pkg/runtime (the envelope's runtime.Unknown is decoded by hand)
    "runtime.TypeMeta": {1: _s("apiVersion"), 2: _s("kind")},
    # k8s.io/apimachinery/pkg/apis/meta/v1
    "ObjectMeta": {
        1: _s("name"),
        2: _s("generateName"),
        3: _s("namespace"),
        4: _s("selfLink"),
        5: _s("uid"),
        6: _s("resourceVersion"),
        7: _F("generation", "int"),
        8: _F("creationTimestamp", "time", keep_zero=True),  # JSON writes null
        9: _F("deletionTimestamp", "time", keep_zero=True),
        10: _F("deletionGracePeriodSeconds", "int", keep_zero=True),
        11: _map("labels"),
        12: _map("annotations"),
        13: _m("ownerReferences", "OwnerReference", repeated=True),
        14: _strings("finalizers"),
        17: _m("managedFields", "ManagedFieldsEntry", repeated=True),
    },
    "OwnerReference": {
        5: _s("apiVersion", keep=True),
        1: _s("kind", keep=True),
        3: _s("name", keep=True),
        4: _s("uid", keep=True),
        6: _F("controller", "bool", keep_zero=True),
        7: _F("blockOwnerDeletion", "bool", keep_zero=True),
    },
    "ManagedFieldsEntry": {
        1: _s("manager"),
        2: _s("operation"),
        3: _s("apiVersion"),
        4: _F("time", "time", keep_zero=True),
        6: _s("fieldsType"),
        7: _F("fieldsV1", "fieldsV1"),
        8: _s("subresource"),
    },
    "Condition": {
        1: _s("type", keep=True),
        2: _s("status", keep=True),
        3: _F("observedGeneration", "int"),
        4: _F("lastTransitionTime", "time", keep_zero=True),
        5: _s("reason", keep=True),
        6: _s("message", keep=True),
    },
    # k8s.io/api/core/v1
    "ConfigMap": {
        1: _m("metadata", "ObjectMeta"),
        4: _F("immutable", "bool", keep_zero=True),
        2: _map("data"),
        3: _map("binaryData", "bytes"),
    },
    "Secret": {
        1: _m("metadata", "ObjectMeta"),
        5: _F("immutable", "bool", keep_zero=True),
        2: _map("data", "bytes"),
        4: _map("stringData"),
        3: _s("type"),
    },
    "Namespace": {
        1: _m("metadata", "ObjectMeta"),
        2: _m("spec", "NamespaceSpec"),
        3: _m("status", "NamespaceStatus"),
    },
    "NamespaceSpec": {1: _strings("finalizers")},
    "NamespaceStatus": {1: _s("phase"), 2: _m("conditions", "NamespaceCondition", repeated=True)},
    "NamespaceCondition": {
        1: _s("type", keep=True),
        2: _s("status", keep=True),
        4: _F("lastTransitionTime", "time"),
        5: _s("reason"),
        6: _s("message"),
    },
    "ServiceAccount": {
        1: _m("metadata", "ObjectMeta"),
        2: _m("secrets", "ObjectReference", repeated=True),
        3: _m("imagePullSecrets", "LocalObjectReference", repeated=True),
        4: _F("automountServiceAccountToken", "bool", keep_zero=True),
    },
    "ObjectReference": {
        1: _s("kind"),
        2: _s("namespace"),
        3: _s("name"),
        4: _s("uid"),
        5: _s("apiVersion"),
        6: _s("resourceVersion"),
        7: _s("fieldPath"),
    },
    "LocalObjectReference": {1: _s("name")},
}

# What `kubectl create <kind>` builds, and the fields commonly set next to it. A field
# left out here is accepted only while it holds its zero value.
_MESSAGES.update(
    {
        "LabelSelector": {
            1: _map("matchLabels"),
            2: _m("matchExpressions", "LabelSelectorRequirement", repeated=True),
        },
        "LabelSelectorRequirement": {
            1: _s("key", keep=True),
            2: _s("operator", keep=True),
            3: _strings("values"),
        },
        # core/v1: Service
        "Service": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "ServiceSpec"),
            3: _m("status", "ServiceStatus"),
        },
        "ServiceSpec": {
            1: _m("ports", "ServicePort", repeated=True),
            2: _map("selector"),
            3: _s("clusterIP"),
            18: _strings("clusterIPs"),
            4: _s("type"),
            5: _strings("externalIPs"),
            7: _s("sessionAffinity"),
            8: _s("loadBalancerIP"),
            9: _strings("loadBalancerSourceRanges"),
            10: _s("externalName"),
            11: _s("externalTrafficPolicy"),
            12: _i("healthCheckNodePort"),
            13: _b("publishNotReadyAddresses"),
            19: _strings("ipFamilies"),
            17: _s("ipFamilyPolicy", keep=True),
            20: _b("allocateLoadBalancerNodePorts", keep=True),
            21: _s("loadBalancerClass", keep=True),
            22: _s("internalTrafficPolicy", keep=True),
            23: _s("trafficDistribution", keep=True),
        },
        "ServicePort": {
            1: _s("name"),
            2: _s("protocol"),
            6: _s("appProtocol", keep=True),
            3: _i("port", keep=True),
            4: _intstr("targetPort"),
            5: _i("nodePort"),
        },
        "ServiceStatus": {1: _m("loadBalancer", "LoadBalancerStatus")},
        "LoadBalancerStatus": {},
        # core/v1: ResourceQuota
        "ResourceQuota": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "ResourceQuotaSpec"),
            3: _m("status", "ResourceQuotaStatus"),
        },
        "ResourceQuotaSpec": {
            1: _map("hard", "quantity"),
            2: _strings("scopes"),
            3: _m("scopeSelector", "ScopeSelector"),
        },
        "ScopeSelector": {
            1: _m("matchExpressions", "ScopedResourceSelectorRequirement", repeated=True)
        },
        "ScopedResourceSelectorRequirement": {
            1: _s("scopeName", keep=True),
            2: _s("operator", keep=True),
            3: _strings("values"),
        },
        "ResourceQuotaStatus": {1: _map("hard", "quantity"), 2: _map("used", "quantity")},
        # apps/v1
        "Deployment": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "DeploymentSpec"),
            3: _m("status", "DeploymentStatus"),
        },
        "DeploymentSpec": {
            1: _i("replicas", keep=True),
            2: _m("selector", "LabelSelector"),
            3: _m("template", "PodTemplateSpec"),
            4: _m("strategy", "DeploymentStrategy"),
            5: _i("minReadySeconds"),
            6: _i("revisionHistoryLimit", keep=True),
            7: _b("paused"),
            9: _i("progressDeadlineSeconds", keep=True),
        },
        "DeploymentStrategy": {1: _s("type"), 2: _m("rollingUpdate", "RollingUpdateDeployment")},
        "RollingUpdateDeployment": {1: _intstr("maxUnavailable"), 2: _intstr("maxSurge")},
        "DeploymentStatus": {},
        # batch/v1
        "Job": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "JobSpec"),
            3: _m("status", "JobStatus"),
        },
        "JobSpec": {
            1: _i("parallelism", keep=True),
            2: _i("completions", keep=True),
            3: _i("activeDeadlineSeconds", keep=True),
            7: _i("backoffLimit", keep=True),
            12: _i("backoffLimitPerIndex", keep=True),
            13: _i("maxFailedIndexes", keep=True),
            4: _m("selector", "LabelSelector"),
            5: _b("manualSelector", keep=True),
            6: _m("template", "PodTemplateSpec"),
            8: _i("ttlSecondsAfterFinished", keep=True),
            9: _s("completionMode", keep=True),
            10: _b("suspend", keep=True),
            14: _s("podReplacementPolicy", keep=True),
            15: _s("managedBy", keep=True),
        },
        "JobStatus": {},
        "CronJob": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "CronJobSpec"),
            3: _m("status", "CronJobStatus"),
        },
        "CronJobSpec": {
            1: _s("schedule", keep=True),
            8: _s("timeZone", keep=True),
            2: _i("startingDeadlineSeconds", keep=True),
            3: _s("concurrencyPolicy"),
            4: _b("suspend", keep=True),
            5: _m("jobTemplate", "JobTemplateSpec"),
            6: _i("successfulJobsHistoryLimit", keep=True),
            7: _i("failedJobsHistoryLimit", keep=True),
        },
        "JobTemplateSpec": {1: _m("metadata", "ObjectMeta"), 2: _m("spec", "JobSpec")},
        "CronJobStatus": {},
        # rbac.authorization.k8s.io/v1
        "Role": {1: _m("metadata", "ObjectMeta"), 2: _m("rules", "PolicyRule", repeated=True)},
        "ClusterRole": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("rules", "PolicyRule", repeated=True),
            3: _m("aggregationRule", "AggregationRule"),
        },
        "AggregationRule": {1: _m("clusterRoleSelectors", "LabelSelector", repeated=True)},
        "PolicyRule": {
            1: _strings("verbs"),
            2: _strings("apiGroups"),
            3: _strings("resources"),
            4: _strings("resourceNames"),
            5: _strings("nonResourceURLs"),
        },
        "RoleBinding": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("subjects", "Subject", repeated=True),
            3: _m("roleRef", "RoleRef"),
        },
        "Subject": {
            1: _s("kind", keep=True),
            2: _s("apiGroup"),
            3: _s("name", keep=True),
            4: _s("namespace"),
        },
        "RoleRef": {
            1: _s("apiGroup", keep=True),
            2: _s("kind", keep=True),
            3: _s("name", keep=True),
        },
        # scheduling.k8s.io/v1
        "PriorityClass": {
            1: _m("metadata", "ObjectMeta"),
            2: _i("value", keep=True),
            3: _b("globalDefault"),
            4: _s("description"),
            5: _s("preemptionPolicy", keep=True),
        },
        # policy/v1
        "PodDisruptionBudget": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "PodDisruptionBudgetSpec"),
            3: _m("status", "PodDisruptionBudgetStatus"),
        },
        "PodDisruptionBudgetSpec": {
            1: _intstr("minAvailable"),
            2: _m("selector", "LabelSelector"),
            3: _intstr("maxUnavailable"),
            4: _s("unhealthyPodEvictionPolicy", keep=True),
        },
        "PodDisruptionBudgetStatus": {
            # JSON writes these counts even when zero
            3: _i("disruptionsAllowed", keep=True),
            4: _i("currentHealthy", keep=True),
            5: _i("desiredHealthy", keep=True),
            6: _i("expectedPods", keep=True),
        },
        "Eviction": {1: _m("metadata", "ObjectMeta"), 2: _m("deleteOptions", "DeleteOptions")},
        "DeleteOptions": {
            1: _i("gracePeriodSeconds", keep=True),
            2: _m("preconditions", "Preconditions"),
            3: _b("orphanDependents", keep=True),
            4: _s("propagationPolicy", keep=True),
            5: _strings("dryRun"),
        },
        "Preconditions": {1: _s("uid", keep=True), 2: _s("resourceVersion", keep=True)},
        # networking.k8s.io/v1
        "Ingress": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "IngressSpec"),
            3: _m("status", "IngressStatus"),
        },
        "IngressSpec": {
            4: _s("ingressClassName", keep=True),
            1: _m("defaultBackend", "IngressBackend"),
            2: _m("tls", "IngressTLS", repeated=True),
            3: _m("rules", "IngressRule", repeated=True),
        },
        "IngressBackend": {
            4: _m("service", "IngressServiceBackend"),
            3: _m("resource", "TypedLocalObjectReference"),
        },
        "IngressServiceBackend": {1: _s("name", keep=True), 2: _m("port", "ServiceBackendPort")},
        "ServiceBackendPort": {1: _s("name"), 2: _i("number")},
        "TypedLocalObjectReference": {
            1: _s("apiGroup", keep=True),
            2: _s("kind", keep=True),
            3: _s("name", keep=True),
        },
        "IngressTLS": {1: _strings("hosts"), 2: _s("secretName")},
        "IngressRule": {1: _s("host"), 2: _inline("IngressRuleValue")},
        "IngressRuleValue": {1: _m("http", "HTTPIngressRuleValue")},
        "HTTPIngressRuleValue": {1: _m("paths", "HTTPIngressPath", repeated=True)},
        "HTTPIngressPath": {
            1: _s("path"),
            3: _s("pathType", keep=True),
            2: _m("backend", "IngressBackend"),
        },
        "IngressStatus": {1: _m("loadBalancer", "LoadBalancerStatus")},
        # authentication.k8s.io/v1 (kubectl create token)
        "TokenRequest": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "TokenRequestSpec"),
            3: _m("status", "TokenRequestStatus"),
        },
        "TokenRequestSpec": {
            1: _strings("audiences"),
            4: _i("expirationSeconds", keep=True),
            3: _m("boundObjectRef", "BoundObjectReference"),
        },
        "BoundObjectReference": {
            1: _s("kind"),
            2: _s("apiVersion"),
            3: _s("name"),
            4: _s("uid"),
        },
        "TokenRequestStatus": {
            1: _s("token", keep=True),
            2: _F("expirationTimestamp", "time", keep_zero=True),
        },
        # authentication.k8s.io/v1 and authorization.k8s.io/v1 reviews (kubectl auth)
        "TokenReview": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "TokenReviewSpec"),
            3: _m("status", "TokenReviewStatus"),
        },
        "TokenReviewSpec": {1: _s("token"), 2: _strings("audiences")},
        "TokenReviewStatus": {
            1: _b("authenticated"),
            2: _m("user", "UserInfo"),
            4: _strings("audiences"),
            3: _s("error"),
        },
        "UserInfo": {
            1: _s("username"),
            2: _s("uid"),
            3: _strings("groups"),
            4: _map("extra", "stringList"),
        },
        "SelfSubjectReview": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("status", "SelfSubjectReviewStatus"),
        },
        "SelfSubjectReviewStatus": {1: _m("userInfo", "UserInfo")},
        "SelfSubjectAccessReview": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "SelfSubjectAccessReviewSpec"),
            3: _m("status", "SubjectAccessReviewStatus"),
        },
        "SelfSubjectAccessReviewSpec": {
            1: _m("resourceAttributes", "ResourceAttributes"),
            2: _m("nonResourceAttributes", "NonResourceAttributes"),
        },
        "SubjectAccessReview": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "SubjectAccessReviewSpec"),
            3: _m("status", "SubjectAccessReviewStatus"),
        },
        "SubjectAccessReviewSpec": {
            1: _m("resourceAttributes", "ResourceAttributes"),
            2: _m("nonResourceAttributes", "NonResourceAttributes"),
            3: _s("user"),
            4: _strings("groups"),
            5: _map("extra", "stringList"),
            6: _s("uid"),
        },
        "ResourceAttributes": {
            1: _s("namespace"),
            2: _s("verb"),
            3: _s("group"),
            4: _s("version"),
            5: _s("resource"),
            6: _s("subresource"),
            7: _s("name"),
            8: _m("fieldSelector", "FieldSelectorAttributes"),
            9: _m("labelSelector", "LabelSelectorAttributes"),
        },
        "FieldSelectorAttributes": {
            1: _s("rawSelector"),
            2: _m("requirements", "FieldSelectorRequirement", repeated=True),
        },
        "LabelSelectorAttributes": {
            1: _s("rawSelector"),
            2: _m("requirements", "LabelSelectorRequirement", repeated=True),
        },
        "FieldSelectorRequirement": {1: _s("key"), 2: _s("operator"), 3: _strings("values")},
        "NonResourceAttributes": {1: _s("path"), 2: _s("verb")},
        "SubjectAccessReviewStatus": {
            1: _b("allowed"),
            4: _b("denied"),
            2: _s("reason"),
            3: _s("evaluationError"),
        },
        "SelfSubjectRulesReview": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "SelfSubjectRulesReviewSpec"),
            3: _m("status", "SubjectRulesReviewStatus"),
        },
        "SelfSubjectRulesReviewSpec": {1: _s("namespace")},
        "SubjectRulesReviewStatus": {
            1: _m("resourceRules", "ResourceRule", repeated=True),
            2: _m("nonResourceRules", "NonResourceRule", repeated=True),
            3: _b("incomplete"),
            4: _s("evaluationError"),
        },
        "ResourceRule": {
            1: _strings("verbs"),
            2: _strings("apiGroups"),
            3: _strings("resources"),
            4: _strings("resourceNames"),
        },
        "NonResourceRule": {1: _strings("verbs"), 2: _strings("nonResourceURLs")},
    }
)

# k8s.io/api/autoscaling/v1: what `kubectl autoscale` sends.
_MESSAGES.update(
    {
        "autoscaling.v1.HorizontalPodAutoscaler": {
            1: _m("metadata", "ObjectMeta"),
            2: _m("spec", "autoscaling.v1.HorizontalPodAutoscalerSpec"),
            3: _m("status", "autoscaling.v1.HorizontalPodAutoscalerStatus"),
        },
        "autoscaling.v1.HorizontalPodAutoscalerSpec": {
            1: _m("scaleTargetRef", "autoscaling.v1.CrossVersionObjectReference"),
            2: _i("minReplicas", keep=True),
            3: _i("maxReplicas", keep=True),
            4: _i("targetCPUUtilizationPercentage", keep=True),
        },
        "autoscaling.v1.CrossVersionObjectReference": {
            1: _s("kind", keep=True),
            2: _s("name", keep=True),
            3: _s("apiVersion"),
        },
        "autoscaling.v1.HorizontalPodAutoscalerStatus": {
            1: _i("observedGeneration"),
            2: _F("lastScaleTime", "time"),
            3: _i("currentReplicas", keep=True),
            4: _i("desiredReplicas", keep=True),
            5: _i("currentCPUUtilizationPercentage", keep=True),
        },
    }
)

_MESSAGES.update(CORE_MESSAGES)
_MESSAGES.update(CERTIFICATES_MESSAGES)

# (apiVersion, kind) -> top-level message
_KINDS: dict[tuple[str, str], str] = {
    ("v1", "Pod"): "Pod",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "Namespace"): "Namespace",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "Service"): "Service",
    ("v1", "ResourceQuota"): "ResourceQuota",
    ("apps/v1", "Deployment"): "Deployment",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "RoleBinding",
    ("scheduling.k8s.io/v1", "PriorityClass"): "PriorityClass",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("policy/v1", "Eviction"): "Eviction",
    ("autoscaling/v1", "HorizontalPodAutoscaler"): "autoscaling.v1.HorizontalPodAutoscaler",
    ("policy/v1beta1", "Eviction"): "Eviction",  # same message; older clients send it
    ("networking.k8s.io/v1", "Ingress"): "Ingress",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",
    ("authentication.k8s.io/v1", "TokenReview"): "TokenReview",
    ("authentication.k8s.io/v1", "SelfSubjectReview"): "SelfSubjectReview",
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
    ("authorization.k8s.io/v1", "SubjectAccessReview"): "SubjectAccessReview",
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview"): "SubjectAccessReview",
    ("certificates.k8s.io/v1", "CertificateSigningRequest"): "CertificateSigningRequest",
}


def supported_kinds() -> list[tuple[str, str]]:
    """The (apiVersion, kind) pairs `decode_k8s_protobuf` understands."""
    return sorted(_KINDS)


# --- decoding --------------------------------------------------------------------------


def decode_k8s_protobuf(body: bytes) -> dict[str, Any]:
    """Decode a protobuf request body into the object's JSON form (with apiVersion/kind)."""
    if not is_k8s_protobuf(body):
        raise ProtobufError(
            "the body does not start with the Kubernetes protobuf magic bytes k8s\\0"
        )
    type_meta, raw, encoding = _envelope(body[4:])
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if encoding:
        raise ProtobufError(f"unsupported content encoding {encoding!r}")
    message = _KINDS.get((api_version, kind))
    if message is None:
        shown = f"{api_version}, Kind={kind}" if api_version or kind else "an object without a type"
        raise ProtobufError(f"decoding {shown} from protobuf is not supported")
    return {"apiVersion": api_version, "kind": kind, **_decode_message(raw, message)}


def _envelope(buf: bytes) -> tuple[dict[str, Any], bytes, str]:
    """runtime.Unknown: (typeMeta, raw, contentEncoding)."""
    type_meta: dict[str, Any] = {}
    raw, encoding = b"", ""
    for number, _, value in fields(buf):
        value = _length_delimited(value, f"Unknown field {number}")
        if number == 1:
            type_meta = _decode_message(value, "runtime.TypeMeta")
        elif number == 2:
            raw = value
        elif number == 3:
            encoding = _string(value, "Unknown.contentEncoding")
    return type_meta, raw, encoding


def _decode_message(buf: bytes, message: str) -> dict[str, Any]:
    schema = _MESSAGES[message]
    out: dict[str, Any] = {}
    for number, wire, value in fields(buf):
        f = schema.get(number)
        if f is None:
            if value in (0, b""):
                continue  # a zero value gogo-protobuf writes for a field we do not know
            raise ProtobufError(f"{message}: unsupported field number {number}")
        decoded = _decode_field(f, wire, value, message)
        if f.inline:
            out.update(decoded)
        elif f.repeated:
            out.setdefault(f.name, []).append(decoded)
        elif f.kind == "map":
            key, item = decoded
            out.setdefault(f.name, {})[key] = item
        else:
            out[f.name] = decoded
    for f in schema.values():  # omitempty, except for pointers and non-omitempty fields
        if f.name in out and not f.keep_zero and out[f.name] in ("", 0, False, None):
            del out[f.name]
    return out


def _decode_field(f: _F, wire: int, value: int | bytes, where: str) -> Any:
    expected = _VARINT if f.kind in ("bool", "int") else _BYTES
    if wire != expected:
        raise ProtobufError(f"{where}.{f.name}: unexpected wire type {wire}")
    if f.kind == "message":
        return _decode_message(_length_delimited(value, where), f.message)
    if f.kind == "map":
        return _decode_map_entry(_length_delimited(value, where), f.message, f"{where}.{f.name}")
    return _SCALAR_DECODERS[f.kind](value, f"{where}.{f.name}")


def _decode_map_entry(buf: bytes, value_kind: str, where: str) -> tuple[str, Any]:
    key: str = ""
    item: Any = _SCALAR_DECODERS[value_kind](b"", where)
    for number, wire, value in fields(buf):
        if wire != _BYTES:
            raise ProtobufError(f"{where}: unexpected wire type {wire} in a map entry")
        if number == 1:
            key = _string(value, where)
        elif number == 2:
            item = _SCALAR_DECODERS[value_kind](value, where)
    return key, item


def _length_delimited(value: int | bytes, where: str) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError(f"{where}: expected a length-delimited value, got a varint")
    return value


def _string(value: int | bytes, where: str) -> str:
    value = _length_delimited(value, where)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError(f"{where}: invalid UTF-8 in a string field") from None


def _bytes(value: int | bytes, where: str) -> str:
    value = _length_delimited(value, where)
    return base64.b64encode(value).decode("ascii")


def _int(value: int | bytes, where: str) -> int:
    if not isinstance(value, int):
        raise ProtobufError(f"{where}: expected a varint, got a length-delimited value")
    return value - (1 << 64) if value >= 1 << 63 else value  # two's complement int64


def _time(value: int | bytes, where: str) -> str | None:
    """metav1.Time {seconds, nanos} -> RFC 3339 in UTC (JSON has second precision)."""
    seconds = nanos = 0
    for number, _, v in fields(_length_delimited(value, where)):
        if number == 1:
            seconds = _int(v, where)
        elif number == 2:
            nanos = _int(v, where)
    if seconds == 0 and nanos == 0:
        return None  # the zero Time marshals as null
    try:
        when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    except OverflowError:
        raise ProtobufError(f"{where}: time out of range") from None
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fields_v1(value: int | bytes, where: str) -> Any:
    """FieldsV1 {Raw} holds JSON; decode it so the object reads as its JSON form does."""
    raw = b""
    for number, _, v in fields(_length_delimited(value, where)):
        if number == 1:
            raw = _length_delimited(v, where)
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise ProtobufError(f"{where}: fieldsV1 is not JSON") from None


def _quantity(value: int | bytes, where: str) -> str:
    """resource.Quantity {string} -> its string."""
    text = ""
    for number, _, v in fields(_length_delimited(value, where)):
        if number == 1:
            text = _string(v, where)
    return text


def _int_or_string(value: int | bytes, where: str) -> int | str:
    """intstr.IntOrString {type, intVal, strVal} -> a JSON number or string."""
    kind, number, text = 0, 0, ""
    for n, _, v in fields(_length_delimited(value, where)):
        if n == 1:
            kind = _int(v, where)
        elif n == 2:
            number = _int(v, where)
        elif n == 3:
            text = _string(v, where)
    return text if kind == 1 else number


def _bool(value: int | bytes, where: str) -> bool:
    return bool(value)


def _string_list(value: int | bytes, where: str) -> list[str]:
    """An `ExtraValue` (a message of one repeated string field) as its JSON list."""
    return [
        _string(item, where)
        for number, _, item in fields(_length_delimited(value, where))
        if number == 1
    ]


_SCALAR_DECODERS: dict[str, Callable[[int | bytes, str], Any]] = {
    "string": _string,
    "bytes": _bytes,
    "bool": _bool,
    "int": _int,
    "time": _time,
    "fieldsV1": _fields_v1,
    "quantity": _quantity,
    "intOrString": _int_or_string,
    "stringList": _string_list,
}
