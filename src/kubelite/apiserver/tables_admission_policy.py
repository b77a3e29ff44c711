"""Table printers for ValidatingAdmissionPolicy and its bindings, as kube-apiserver prints them.

A policy: NAME, VALIDATIONS (how many), PARAMKIND (`apiVersion/kind` or
`<unset>`), AGE. A binding: NAME, POLICYNAME, PARAMREF (`namespace/name`,
`*/name` without a namespace, the selector, or `<unset>`), AGE.
"""

from __future__ import annotations

from datetime import datetime

from kubelite.apiserver.tables_format import selector_string, since
from kubelite.apiserver.tables_printers import AGE, NAME, Obj, Printer, Row, col

UNSET = "<unset>"


def _policy(obj: Obj, now: datetime) -> Row:
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    validations = spec.get("validations")
    count = len(validations) if isinstance(validations, list) else 0
    kind = spec.get("paramKind")
    param_kind = (
        f"{kind.get('apiVersion', '')}/{kind.get('kind', '')}" if isinstance(kind, dict) else UNSET
    )
    age = since(metadata.get("creationTimestamp"), now)
    return [metadata.get("name", ""), count, param_kind, age], None


def _param_ref(ref: object) -> str:
    if not isinstance(ref, dict):
        return UNSET
    if ref.get("name"):
        return f"{ref.get('namespace') or '*'}/{ref['name']}"
    if isinstance(ref.get("selector"), dict):
        return selector_string(ref["selector"])
    return UNSET


def _binding(obj: Obj, now: datetime) -> Row:
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    age = since(metadata.get("creationTimestamp"), now)
    return [
        metadata.get("name", ""),
        str(spec.get("policyName") or ""),
        _param_ref(spec.get("paramRef")),
        age,
    ], None


POLICY = Printer(
    (
        NAME,
        col(
            "Validations",
            "Validations indicates the number of validation rules defined in this configuration",
            "integer",
        ),
        col(
            "ParamKind",
            "ParamKind specifies the kind of resources used to parameterize this policy",
        ),
        AGE,
    ),
    _policy,
)

BINDING = Printer(
    (
        NAME,
        col(
            "PolicyName",
            "PolicyName indicates the policy definition which the policy binding binded to",
        ),
        col("ParamRef", "ParamRef indicates the param resource which sets the configration param"),
        AGE,
    ),
    _binding,
)
