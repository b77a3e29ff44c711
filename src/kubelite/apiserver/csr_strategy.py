"""CertificateSigningRequest strategies and admission (certificates.k8s.io/v1).

As upstream's `pkg/registry/certificates/certificates/strategy.go` (1.32):

- create records who asked (`spec.username`, `uid`, `groups`, `extra`, from the
  request's user, never from the body) and starts with no status;
- the main resource changes metadata only; `/status` keeps the spec and the
  Approved/Denied instances it was given; `/approval` changes the conditions
  only; both fill a condition's missing `lastUpdateTime` and `lastTransitionTime`.

And its admission plugins, enabled by default upstream:
`CertificateApproval` (`approve` on `signers`, by name or `domain/*`, for an
`/approval` write), `CertificateSigning` (`sign`, for a `/status` write that
changes the certificate) and `CertificateSubjectRestriction` (no
`system:masters` certificates from the kube-apiserver-client signer). The
authorizer is the request's (None for AlwaysAllow and kubelite's own writes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from kubelite.apiserver import errors
from kubelite.apiserver.request_context import authorizer, user_info

if TYPE_CHECKING:
    from kubelite.apiserver.admission import Attributes as AdmissionAttributes
    from kubelite.apiserver.rest import RestStorage

Obj = dict[str, Any]
GROUP = "certificates.k8s.io"
KIND = "CertificateSigningRequest"
KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"


def is_csr(group: str, kind: str) -> bool:
    return group == GROUP and kind == KIND


def prepare_create(csr: Obj, user: dict[str, Any]) -> None:
    """PrepareForCreate: the requester is the request's user; no status."""
    spec = csr.setdefault("spec", {})
    for key in ("username", "uid", "groups", "extra"):
        spec.pop(key, None)
    if user.get("username"):
        spec["username"] = user["username"]
    if user.get("uid"):
        spec["uid"] = user["uid"]
    if user.get("groups"):
        spec["groups"] = list(user["groups"])
    if user.get("extra"):
        spec["extra"] = {k: list(v) for k, v in user["extra"].items()}
    csr["status"] = {}


def prepare_update(new: Obj, old: Obj, subresource: str, now: str) -> Obj:
    """PrepareForUpdate of the strategy `subresource` names ("", "status", "approval")."""
    merged: Obj = orjson.loads(orjson.dumps(old))
    merged["metadata"] = new.get("metadata") or {}
    old_status = old.get("status") or {}
    if subresource == "status":
        status = dict(new.get("status") or {})
        conditions = [dict(c) for c in status.get("conditions") or [] if isinstance(c, dict)]
        for ctype in ("Approved", "Denied"):
            _preserve(conditions, old_status.get("conditions") or [], ctype)
        if conditions:
            status["conditions"] = _stamp(conditions, old_status, now)
        else:
            status.pop("conditions", None)
        merged["status"] = status
    elif subresource == "approval":
        conditions = (new.get("status") or {}).get("conditions") or []
        status = dict(old_status)
        stamped = _stamp([dict(c) for c in conditions if isinstance(c, dict)], old_status, now)
        if stamped:
            status["conditions"] = stamped
        else:
            status.pop("conditions", None)
        merged["status"] = status
    return merged


def _preserve(conditions: list[Obj], old: list[Obj], ctype: str) -> None:
    """Keep the stored instances of `ctype` when the count is unchanged (a change of
    count is left for validation to refuse)."""
    new_at = [i for i, c in enumerate(conditions) if c.get("type") == ctype]
    old_of = [c for c in old if isinstance(c, dict) and c.get("type") == ctype]
    if len(new_at) == len(old_of):
        for i, cond in zip(new_at, old_of, strict=True):
            conditions[i] = dict(cond)


def _stamp(conditions: list[Obj], old_status: Obj, now: str) -> list[Obj]:
    """populateConditionTimestamps: a missing lastUpdateTime is now; a missing
    lastTransitionTime is the stored one of the same type and status, else now."""
    old = [c for c in old_status.get("conditions") or [] if isinstance(c, dict)]
    for cond in conditions:
        if not cond.get("lastUpdateTime"):
            cond["lastUpdateTime"] = now
        if not cond.get("lastTransitionTime"):
            same = next(
                (
                    c.get("lastTransitionTime")
                    for c in old
                    if c.get("type") == cond.get("type")
                    and c.get("status") == cond.get("status")
                    and c.get("lastTransitionTime")
                ),
                None,
            )
            cond["lastTransitionTime"] = same or now
    return conditions


# ---- admission ---------------------------------------------------------------


class CertificateAdmission:
    """CertificateApproval, CertificateSigning and CertificateSubjectRestriction."""

    def admit(
        self,
        attrs: AdmissionAttributes,
        obj: Obj | None,
        old: Obj | None,
        storage: RestStorage,
    ) -> None:
        return None

    def validate(
        self, attrs: AdmissionAttributes, obj: Obj, old: Obj | None, storage: RestStorage
    ) -> None:
        rt = attrs.resource
        if not is_csr(rt.group, rt.kind) or obj is None:
            return
        signer = str((obj.get("spec") or {}).get("signerName") or "")
        if attrs.operation == "CREATE" and not attrs.subresource:
            _restrict_subject(attrs.name, obj, signer)
        elif attrs.operation == "UPDATE" and attrs.subresource == "approval":
            if not authorized_for_signer("approve", signer):
                raise _forbidden(
                    attrs.name, f'user not permitted to approve requests with signerName "{signer}"'
                )
        elif attrs.operation == "UPDATE" and attrs.subresource == "status" and old is not None:
            changed = (obj.get("status") or {}).get("certificate") != (old.get("status") or {}).get(
                "certificate"
            )
            if changed and not authorized_for_signer("sign", signer):
                raise _forbidden(
                    attrs.name, f'user not permitted to sign requests with signerName "{signer}"'
                )


def authorized_for_signer(verb: str, signer: str) -> bool:
    """IsAuthorizedForSignerName: `verb` on `signers` named `signer` or `domain/*`."""
    authorize = authorizer()
    if authorize is None:
        return True
    from kubelite.apiserver.rbac_authorizer import Attributes
    from kubelite.apiserver.reviews import User

    info = user_info()
    user = User(
        str(info.get("username", "")),
        tuple(info.get("groups") or ()),
        str(info.get("uid") or ""),
        dict(info.get("extra") or {}),
    )
    domain = signer.split("/", 1)[0]
    for name in (signer, f"{domain}/*"):
        attrs = Attributes(
            user, verb, api_group=GROUP, api_version="*", resource="signers", name=name
        )
        if authorize(attrs).allowed:
            return True
    return False


def _restrict_subject(name: str, csr: Obj, signer: str) -> None:
    if signer != KUBE_APISERVER_CLIENT:
        return
    from kubelite.api.validation_certificates import decode_bytes, parse_request

    try:
        request = parse_request(decode_bytes((csr.get("spec") or {}).get("request")))
    except ValueError:
        return  # validation already refused it
    from cryptography.x509.oid import NameOID

    groups = [a.value for a in request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if "system:masters" in groups:
        raise _forbidden(name, f"use of {signer} signer with system:masters group is not allowed")


def _forbidden(name: str, reason: str) -> errors.ApiError:
    """admission.NewForbidden for a CSR."""
    return errors.Forbidden(
        f'certificatesigningrequests.{GROUP} "{name}" is forbidden: {reason}',
        details={"name": name, "group": GROUP, "kind": "certificatesigningrequests"},
    )
