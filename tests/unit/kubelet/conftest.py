"""As root, preparing a container's subPath binds it under the pod's directory
(`subpath.prepare`): whatever a test mounted below its tmp_path goes with it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubelite.kubelet.volumes import release_mounts


@pytest.fixture(autouse=True)
def _release_test_mounts(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    tmp = request.node.funcargs.get("tmp_path")
    if tmp is not None:
        release_mounts(tmp)
