"""The ConfigMap and Secret watch threads apply changes one at a time.

Without that, a slow parse of an older document could finish after a newer
one and leave stale settings in force until the next change.
"""

from __future__ import annotations

import threading
from typing import Any

from kubelite.mesh.config import Config


def test_an_older_document_cannot_land_after_a_newer_one() -> None:
    entered, go = threading.Event(), threading.Event()

    def parse(doc: dict[str, Any]) -> str:
        if doc["v"] == "1":  # the older document parses slowly
            entered.set()
            assert go.wait(10.0)
        return str(doc["v"])

    config: Config[str] = Config("app", parse=parse, namespace="default", start=False)
    older = threading.Thread(target=config._on_object, args=("configmap", {"v": "1"}))
    older.start()
    assert entered.wait(10.0)
    newer = threading.Thread(target=config._on_object, args=("configmap", {"v": "2"}))
    newer.start()
    newer.join(0.2)  # unlocked, the newer one would be done by now; locked, it waits
    go.set()
    older.join(10.0)
    newer.join(10.0)
    assert config.value == "2"
