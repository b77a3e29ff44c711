"""CRD validation rules (x-kubernetes-validations, CEL) with the real kubectl.

A CRD with rules on the spec, a transition rule and a status rule is applied
once per module; each test writes its own custom resources and reads what
kubectl prints, as a user of a real cluster would.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

CRD_NAME = "autoscalers.rules.example.com"
CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: autoscalers.rules.example.com
spec:
  group: rules.example.com
  scope: Namespaced
  names: {plural: autoscalers, singular: autoscaler, kind: Autoscaler}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-validations:
            - rule: self.minReplicas <= self.replicas
            - rule: "self.tier in ['gold', 'silver']"
              messageExpression: "'tier ' + self.tier + ' is not offered'"
              reason: FieldValueForbidden
              fieldPath: .tier
            properties:
              replicas: {type: integer}
              minReplicas: {type: integer}
              tier: {type: string}
              image:
                type: string
                x-kubernetes-validations:
                - rule: self == oldSelf
                  message: image is immutable
              memory:
                x-kubernetes-int-or-string: true
                x-kubernetes-validations:
                - rule: "quantity(string(self)).isLessThan(quantity('1Gi'))"
                  message: at most 1Gi
          status:
            type: object
            properties:
              ready:
                type: integer
                x-kubernetes-validations:
                - rule: self >= 0
"""


def autoscaler(name: str, **spec: Any) -> str:
    body = {
        "apiVersion": "rules.example.com/v1",
        "kind": "Autoscaler",
        "metadata": {"name": name},
        "spec": {"replicas": 2, "minReplicas": 1, "tier": "gold", "image": "a", **spec},
    }
    return json.dumps(body)


@pytest.fixture(scope="module")
def rules_cluster(cluster):
    cluster.kubectl("apply", "-f", "-", input=CRD)
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    return cluster


def test_a_crd_with_a_rule_that_does_not_compile_is_refused(cluster):
    broken = CRD.replace("autoscalers", "brokens").replace("Autoscaler", "Broken")
    broken = broken.replace("self.minReplicas <= self.replicas", "self.minReplicas <=")
    out = cluster.kubectl("apply", "-f", "-", input=broken, check=False)
    assert out.returncode != 0
    assert 'The CustomResourceDefinition "brokens.rules.example.com" is invalid' in out.stderr
    assert (
        "spec.validation.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule: "
        'Invalid value: apiextensions.ValidationRule{Rule:"self.minReplicas <="'
    ) in out.stderr
    assert "compilation failed: ERROR: <input>:1:" in out.stderr
    missing = cluster.kubectl("get", "crd", "brokens.rules.example.com", check=False)
    assert missing.returncode != 0


def test_valid_objects_are_stored(rules_cluster):
    c = rules_cluster
    c.kubectl("apply", "-f", "-", input=autoscaler("fine", memory="512Mi"))
    assert c.kubectl_json("get", "autoscaler", "fine")["spec"]["memory"] == "512Mi"
    assert "minReplicas" in c.kubectl("explain", "autoscaler.spec").stdout


def test_a_failing_rule_is_a_422_kubectl_prints(rules_cluster):
    c = rules_cluster
    out = c.kubectl("apply", "-f", "-", input=autoscaler("low", minReplicas=5), check=False)
    assert out.returncode != 0
    assert (
        'The Autoscaler "low" is invalid: spec: Invalid value: "object": '
        "failed rule: self.minReplicas <= self.replicas"
    ) in out.stderr
    assert c.kubectl("get", "autoscaler", "low", check=False).returncode != 0


def test_message_expression_reason_and_field_path(rules_cluster):
    out = rules_cluster.kubectl(
        "apply", "-f", "-", input=autoscaler("bronze", tier="bronze"), check=False
    )
    assert out.returncode != 0
    assert "spec.tier: Forbidden: tier bronze is not offered" in out.stderr


def test_int_or_string_quantities(rules_cluster):
    out = rules_cluster.kubectl(
        "apply", "-f", "-", input=autoscaler("big", memory="2Gi"), check=False
    )
    assert out.returncode != 0
    assert 'spec.memory: Invalid value: "": at most 1Gi' in out.stderr


def test_transition_rule_keeps_a_field_immutable(rules_cluster):
    c = rules_cluster
    c.kubectl("apply", "-f", "-", input=autoscaler("fixed"))
    c.kubectl("patch", "autoscaler", "fixed", "--type=merge", "-p", '{"spec":{"replicas":3}}')
    out = c.kubectl(
        "patch", "autoscaler", "fixed", "--type=merge", "-p", '{"spec":{"image":"b"}}', check=False
    )
    assert out.returncode != 0
    assert 'spec.image: Invalid value: "string": image is immutable' in out.stderr
    assert c.kubectl_json("get", "autoscaler", "fixed")["spec"]["image"] == "a"


def test_status_subresource_writes_are_checked(rules_cluster):
    c = rules_cluster
    c.kubectl("apply", "-f", "-", input=autoscaler("st"))
    patch = ["patch", "autoscaler", "st", "--subresource=status", "--type=merge", "-p"]
    out = c.kubectl(*patch, '{"status":{"ready":-1}}', check=False)
    assert out.returncode != 0
    assert 'status.ready: Invalid value: "integer": failed rule: self >= 0' in out.stderr
    c.kubectl(*patch, '{"status":{"ready":2}}')
    assert c.kubectl_json("get", "autoscaler", "st")["status"] == {"ready": 2}
