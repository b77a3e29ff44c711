"""The token controller: `kubernetes.io/service-account-token` Secrets get their token.

As upstream's tokens-controller: a Secret of that type names its service
account in the `kubernetes.io/service-account.name` annotation; the
controller fills in `token` (a long-lived token, valid while the Secret and
the account exist), `ca.crt` and `namespace`, and records the account's uid
in `kubernetes.io/service-account.uid`. A Secret whose account does not
exist (or is another account of the same name) is deleted, and so are an
account's token Secrets when the account is deleted.
"""

from __future__ import annotations

import base64
import contextlib
import logging

from kubelite.apiserver import errors
from kubelite.controllers.clock import Clock, system_clock
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, deleting, key_of, meta

log = logging.getLogger(__name__)
TOKEN_TYPE = "kubernetes.io/service-account-token"
NAME_KEY = "kubernetes.io/service-account.name"
UID_KEY = "kubernetes.io/service-account.uid"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class TokensController(Controller):
    name = "tokens-controller"

    def __init__(self, root_ca: str, *, clock: Clock = system_clock) -> None:
        super().__init__(clock=clock)
        self.root_ca = root_ca

    def setup(self) -> None:
        self.secrets = self.informers.informer("v1", "Secret")
        self.secrets.add_handlers(
            Handlers(on_add=self._secret, on_update=lambda _old, new: self._secret(new))
        )
        self.accounts = self.informers.informer("v1", "ServiceAccount")
        self.accounts.add_handlers(
            Handlers(
                on_add=self._account,
                on_update=lambda _o, n: self._account(n),
                on_delete=self._account,
            )  # fmt: skip
        )

    def _secret(self, secret: Obj) -> None:
        if secret.get("type") == TOKEN_TYPE and not deleting(secret):
            self.enqueue(key_of(secret))

    def _account(self, sa: Obj) -> None:
        ns, name = meta(sa).get("namespace"), meta(sa).get("name")
        for secret in self.secrets.list(ns):
            md = meta(secret)
            named = (md.get("annotations") or {}).get(NAME_KEY) == name
            if secret.get("type") == TOKEN_TYPE and md.get("namespace") == ns and named:
                self.enqueue(key_of(secret))

    async def reconcile(self, key: str) -> float | None:
        secret = self.secrets.get(key)
        if secret is None or secret.get("type") != TOKEN_TYPE or deleting(secret):
            return None
        md = meta(secret)
        ns, annotations = md.get("namespace") or "", md.get("annotations") or {}
        sa_name = str(annotations.get(NAME_KEY, ""))
        sa = self.accounts.get(f"{ns}/{sa_name}")
        if sa is None and sa_name:  # created just now, maybe: ask the API, as upstream
            sa = await self.client.get_or_none("v1", "ServiceAccount", sa_name, ns)
        wanted_uid = annotations.get(UID_KEY)
        if sa is None or deleting(sa) or (wanted_uid and wanted_uid != meta(sa).get("uid")):
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await self.client.delete(
                    "v1", "Secret", md["name"], ns, preconditions={"uid": md.get("uid")}
                )
                log.info("deleted token secret %s: its service account is gone", key)
            return None
        data = secret.get("data") or {}
        filled = data.get("token") and data.get("namespace")
        if filled and wanted_uid and (not self.root_ca or data.get("ca.crt")):
            return None
        tokens = getattr(self.client, "tokens", None)
        if tokens is None:
            return None  # no signing key in this process: nothing to fill in
        token = tokens.issue_legacy(sa, secret)
        sa_uid = meta(sa).get("uid", "")

        def fill(current: Obj) -> Obj:
            if meta(current).get("uid") != md.get("uid"):
                raise errors.NotFound(f'secrets "{md["name"]}" not found')
            values = current.setdefault("data", {})
            if not values.get("token"):
                values["token"] = _b64(token)
            values["namespace"] = _b64(ns)
            if self.root_ca:
                values["ca.crt"] = _b64(self.root_ca)
            current["metadata"].setdefault("annotations", {})[UID_KEY] = sa_uid
            return current

        with contextlib.suppress(errors.NotFound):
            await self.client.mutate("v1", "Secret", md["name"], fill, ns)
        return None


__all__ = ["TokensController"]
