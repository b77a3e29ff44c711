"""Which field labels a kind's list and watch accept, and how others are refused.

Upstream runs every label of a field selector through the served kind's
field-label conversion function (`pkg/apis/<group>/<version>/conversion.go`)
before listing; a label it does not know is a 400 with that function's own
words. Only a few kinds register one (core Pods, Nodes, ReplicationControllers,
Events, Namespaces, Secrets, Services; batch Jobs; certificates CSRs), each
with its own list (Nodes and Namespaces do not even take `metadata.namespace`);
every other built-in kind gets the default, `metadata.name` and
`metadata.namespace` only. A ReplicaSet's `status.replicas` is in its
registry's field set but no conversion function lets it through, so upstream
refuses it too. Custom resources take `metadata.name`, `metadata.namespace`
when namespaced, and their version's `selectableFields`.

What value a label has on an object is `kubelite.api.selectors.field_value`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubelite.api.registry import ResourceType

NAME, NAMESPACE = "metadata.name", "metadata.namespace"
_NOT_SUPPORTED = "field label not supported: {label}"


@dataclass(frozen=True)
class FieldLabels:
    supported: frozenset[str]
    refusal: str = _NOT_SUPPORTED  # formatted with the refused label

    def refuse(self, label: str) -> str:
        return self.refusal.format(label=label)


DEFAULT = FieldLabels(
    frozenset({NAME, NAMESPACE}),
    '"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"',
)

# Built-in kinds with their own conversion function, by (group, kind).
BY_KIND: dict[tuple[str, str], FieldLabels] = {
    ("", "Pod"): FieldLabels(
        frozenset(
            {
                NAME,
                NAMESPACE,
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",  # accepted, but not in the pod's field set: always ""
                "status.nominatedNodeName",
            }
        )
    ),
    ("", "Node"): FieldLabels(frozenset({NAME, "spec.unschedulable"})),
    ("", "ReplicationController"): FieldLabels(frozenset({NAME, NAMESPACE, "status.replicas"})),
    ("", "Event"): FieldLabels(
        frozenset(
            {
                NAME,
                NAMESPACE,
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            }  # events.k8s.io/v1 labels (regarding.*) are mapped onto these (events_v1)
        )
    ),
    ("", "Namespace"): FieldLabels(frozenset({NAME, "status.phase"})),
    ("", "Secret"): FieldLabels(frozenset({NAME, NAMESPACE, "type"})),
    ("", "Service"): FieldLabels(frozenset({NAME, NAMESPACE, "spec.clusterIP", "spec.type"})),
    ("batch", "Job"): FieldLabels(
        frozenset({NAME, NAMESPACE, "status.successful"}),
        'field label "{label}" not supported for batchv1.Job',
    ),
    ("certificates.k8s.io", "CertificateSigningRequest"): FieldLabels(
        frozenset({NAME, "spec.signerName"})
    ),
}

_CUSTOM_NAMESPACED = FieldLabels(frozenset({NAME, NAMESPACE}))
_CUSTOM_CLUSTER = FieldLabels(frozenset({NAME}))


def field_labels(rt: ResourceType) -> FieldLabels:
    """The labels `rt`'s field selectors may use."""
    if rt.custom is not None:
        base = _CUSTOM_NAMESPACED if rt.namespaced else _CUSTOM_CLUSTER
        if rt.custom.selectable:
            return FieldLabels(base.supported | set(rt.custom.selectable))
        return base
    return BY_KIND.get((rt.group, rt.kind), DEFAULT)
