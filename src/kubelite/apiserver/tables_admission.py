"""Table printers for the webhook configurations (admissionregistration.k8s.io/v1).

As kube-apiserver prints them: NAME, WEBHOOKS (how many the configuration
registers) and AGE, the same for mutating and validating configurations.
"""

from __future__ import annotations

from datetime import datetime

from kubelite.apiserver.tables_format import since
from kubelite.apiserver.tables_printers import AGE, NAME, Obj, Printer, Row, col


def _webhook_configuration(obj: Obj, now: datetime) -> Row:
    metadata = obj.get("metadata") or {}
    hooks = obj.get("webhooks")
    count = len(hooks) if isinstance(hooks, list) else 0
    return [metadata.get("name", ""), count, since(metadata.get("creationTimestamp"), now)], None


WEBHOOK_CONFIGURATION = Printer(
    (
        NAME,
        col(
            "Webhooks",
            "Webhooks indicates the number of webhooks registered in this configuration",
            "integer",
        ),
        AGE,
    ),
    _webhook_configuration,
)
