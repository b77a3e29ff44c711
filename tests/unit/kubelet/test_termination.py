"""Termination messages: the file, the log fallback, and the limits upstream's kubelet keeps."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from kubelite.kubelet import criolog, termination
from kubelite.kubelet.criolog import LogWriter
from kubelite.kubelet.status import ContainerRecord, pod_status
from kubelite.kubelet.termination import (
    TerminationOrder,
    host_file,
    is_sidecar,
    message_path,
    per_status_budget,
    prune,
    read_message,
    truncate,
)


def write_log(path: Path, *chunks: tuple[str, bytes]) -> Path:
    writer = LogWriter(path)
    for stream, data in chunks:
        writer.feed(stream, data)
    for stream in ("stdout", "stderr"):
        writer.flush(stream)
    writer.close()
    return path


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        pytest.param({}, "/dev/termination-log", id="default"),
        pytest.param({"terminationMessagePath": "/tmp/why"}, "/tmp/why", id="own-path"),
        pytest.param({"terminationMessagePath": ""}, "", id="none"),
    ],
)
def test_message_path(container: dict[str, str], expected: str) -> None:
    assert message_path(container) == expected


def test_each_instance_has_a_file_named_by_its_id(tmp_path: Path) -> None:
    first = host_file(tmp_path, "app", "kubelite://0123456789abcdef")
    assert first == tmp_path / "containers" / "app" / "01234567"
    first.parent.mkdir(parents=True)
    first.write_text("an earlier instance's message")
    prune(tmp_path, "app")  # a restart: the earlier instance's file is gone
    assert os.listdir(first.parent) == []
    prune(tmp_path, "never-started")  # nothing to remove


def test_the_file_wins_and_only_its_last_4_kib_count(tmp_path: Path) -> None:
    msg = tmp_path / "msg"
    msg.write_bytes(b"a" * 5000 + b"END")
    log = write_log(tmp_path / "0.log", ("stdout", b"from the log\n"))
    text = read_message(msg, log, fallback=True)
    assert len(text) == 4096 and text.endswith("aEND")


@pytest.mark.parametrize(
    ("file_text", "fallback", "expected"),
    [
        pytest.param(b"why\n", False, "why\n", id="file"),
        pytest.param(b"", False, "", id="empty-file-no-fallback"),
        pytest.param(b"", True, "out\nerr\n", id="empty-file-falls-back"),
        pytest.param(None, True, "out\nerr\n", id="missing-file-falls-back"),
        pytest.param(None, False, "", id="missing-file"),
        pytest.param(b"\xff\xfe bad", False, "\ufffd\ufffd bad", id="invalid-utf8-replaced"),
    ],
)
def test_file_or_log(
    tmp_path: Path, file_text: bytes | None, fallback: bool, expected: str
) -> None:
    msg = tmp_path / "msg"
    if file_text is not None:
        msg.write_bytes(file_text)
    log = write_log(tmp_path / "0.log", ("stdout", b"out\n"), ("stderr", b"err\n"))
    assert read_message(msg, log, fallback=fallback) == expected


def test_nothing_bound_falls_back_to_the_log_on_failure_only(tmp_path: Path) -> None:
    log = write_log(tmp_path / "0.log", ("stdout", b"out\n"))
    assert read_message(None, log, fallback=True) == "out\n"
    assert read_message(None, log, fallback=False) == ""


def test_an_unreadable_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "msg").mkdir()  # reading a directory fails
    text = read_message(tmp_path / "msg", tmp_path / "0.log", fallback=True)
    assert text.startswith(f"Error on reading termination log {tmp_path / 'msg'}: ")


def test_the_log_gives_its_last_80_lines(tmp_path: Path) -> None:
    lines = b"".join(b"line %d\n" % i for i in range(1, 101))
    log = write_log(tmp_path / "0.log", ("stdout", lines))
    text = read_message(None, log, fallback=True)
    assert text.splitlines() == [f"line {i}" for i in range(21, 101)]


def test_the_log_gives_at_most_2_kib(tmp_path: Path) -> None:
    log = write_log(tmp_path / "0.log", ("stdout", b"x" * 3000 + b"TAIL\n"))
    text = read_message(None, log, fallback=True)
    assert len(text) == 2048 and text.endswith("xTAIL\n")


def test_a_line_split_in_pieces_counts_once(tmp_path: Path) -> None:
    # a 40 KiB line is logged in 16 KiB pieces; with the line after it, still 2 lines
    log = write_log(tmp_path / "0.log", ("stdout", b"y" * 40_000 + b"\nlast\n"))
    assert criolog.last_output(log, lines=2, limit=10**6) == b"y" * 40_000 + b"\nlast\n"


def test_the_tail_reaches_into_a_rotated_file(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    write_log(path, ("stdout", b"old 1\nold 2\n"))
    path.rename(tmp_path / "0.log.20260101-000000")
    write_log(path, ("stdout", b"new 1\n"))
    assert criolog.last_output(path, lines=2, limit=100) == b"old 2\nnew 1\n"


def test_only_the_tail_of_a_big_log_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(criolog, "TAIL_READ", 200)
    lines = b"".join(b"line %03d\n" % i for i in range(500))
    log = write_log(tmp_path / "0.log", ("stdout", lines))
    out = criolog.last_output(log, lines=80, limit=10**6)
    # ~45 bytes a record: 200 bytes hold the last 4 whole records (the cut one is dropped)
    assert out.splitlines() == [b"line %03d" % i for i in range(496, 500)]


# ---- the pod's 12 KiB ---------------------------------------------------------------


def pod_with(containers: int, inits: int = 0, ephemerals: int = 0) -> dict[str, object]:
    def named(prefix: str, n: int) -> list[dict[str, str]]:
        return [{"name": f"{prefix}{i}"} for i in range(n)]

    return {
        "metadata": {"name": "p"},
        "spec": {
            "containers": named("c", containers),
            "initContainers": named("i", inits),
            "ephemeralContainers": named("e", ephemerals),
        },
    }


@pytest.mark.parametrize(
    ("pod", "budget"),
    [
        pytest.param(pod_with(1), 12288, id="one-container"),
        pytest.param(pod_with(4), 3072, id="four: 12288 / 4"),
        pytest.param(pod_with(2, inits=1, ephemerals=2), 2457, id="five of all kinds: 12288 // 5"),
    ],
)
def test_per_status_budget(pod: dict[str, object], budget: int) -> None:
    assert per_status_budget(pod) == budget


def test_truncate_keeps_the_first_bytes_and_whole_characters() -> None:
    assert truncate("abc", 10) == "abc"
    assert truncate("a" * 20, 5) == "aaaaa"
    assert truncate("é" * 4, 5) == "éé"  # 2 bytes each: the third would be cut in two


def test_pod_status_cuts_each_message_to_the_budget() -> None:
    recs = []
    for name in ("a", "b", "c", "d"):
        rec = ContainerRecord(
            name, "img", state={"terminated": {"exitCode": 0, "message": "m" * 4096}}
        )
        rec.last_state = {"terminated": {"exitCode": 1, "message": "l" * 4096}}
        recs.append(rec)
    status = pod_status(
        pod_with(4),
        [],
        recs,
        pod_ip="",
        host_ip="127.0.0.1",
        start_time="t",
        now="t",
        sandbox_ready=True,
    )
    for s in status["containerStatuses"]:
        assert len(s["state"]["terminated"]["message"]) == 3072
        assert len(s["lastState"]["terminated"]["message"]) == 3072
    assert len(recs[0].state["terminated"]["message"]) == 4096  # the record keeps it whole


def test_limits_are_upstreams() -> None:
    assert (
        termination.MAX_CONTAINER_BYTES,
        termination.MAX_POD_BYTES,
        termination.MAX_LOG_BYTES,
        termination.MAX_LOG_LINES,
    ) == (4096, 12288, 2048, 80)


# ---- the order sidecars stop in ------------------------------------------------------------


SIDECAR_POD = {
    "spec": {
        "initContainers": [
            {"name": "logs", "restartPolicy": "Always"},
            {"name": "setup"},
            {"name": "proxy", "restartPolicy": "Always"},
        ],
        "containers": [{"name": "app"}, {"name": "web"}],
    }
}


def test_sidecars_wait_for_the_regular_containers_and_the_later_sidecars() -> None:
    order = TerminationOrder(SIDECAR_POD, ["logs", "proxy", "app", "web"])
    assert not order.waits("app") and not order.waits("setup")
    assert order.pending("proxy") == ["app", "web"]
    assert order.pending("logs") == ["app", "web", "proxy"]
    order.ended("app")
    order.ended("web")
    assert order.pending("proxy") == []
    assert order.pending("logs") == ["proxy"]
    order.ended("proxy")
    assert order.pending("logs") == []


def test_containers_not_running_hold_no_one_up() -> None:
    order = TerminationOrder(SIDECAR_POD, ["logs", "proxy"])  # the app already ended
    assert order.pending("proxy") == []
    assert order.pending("logs") == ["proxy"]


def test_a_turn_comes_at_the_latest_when_the_time_is_up() -> None:
    async def wait() -> float:
        order = TerminationOrder(SIDECAR_POD, ["logs", "app"])
        loop = asyncio.get_running_loop()
        start = loop.time()
        await order.wait_turn("logs", 0.05)  # the app never ends
        return loop.time() - start

    assert 0.04 < asyncio.run(wait()) < 1.0


def test_a_turn_comes_as_the_last_container_it_waits_for_ends() -> None:
    async def wait() -> list[str]:
        order = TerminationOrder(SIDECAR_POD, ["logs", "proxy", "app"])
        seen: list[str] = []

        async def turn(name: str) -> None:
            await order.wait_turn(name, 30)
            seen.append(name)
            order.ended(name)

        tasks = [asyncio.create_task(turn(n)) for n in ("logs", "proxy")]
        await asyncio.sleep(0.01)
        assert seen == []
        order.ended("app")
        await asyncio.gather(*tasks)
        return seen

    assert asyncio.run(wait()) == ["proxy", "logs"]


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        pytest.param({"name": "s", "restartPolicy": "Always"}, True, id="sidecar"),
        pytest.param({"name": "i"}, False, id="regular-init"),
    ],
)
def test_is_sidecar(container: dict[str, str], expected: bool) -> None:
    assert is_sidecar(container) is expected
