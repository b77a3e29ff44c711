"""Forking a container's process: what it reports, before and after `ready`."""

from __future__ import annotations

import asyncio
import errno
import os
import select
import stat
import sys
from pathlib import Path

import pytest

from kubelite.kubelet import forkexec

ENV = {"PATH": "/usr/bin:/bin"}


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def finish(child: forkexec.Child) -> tuple[int, bytes, bytes]:
    """Wait for the child and read what it wrote (small outputs: the pipes do not fill)."""
    loop = asyncio.get_running_loop()
    _, status = await loop.run_in_executor(None, os.waitpid, child.pid, 0)
    out = _drain(child.stdout)
    err = _drain(child.stderr)
    return os.waitstatus_to_exitcode(status), out, err


def _drain(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks)


def test_a_started_child_runs_the_command_with_the_given_environment() -> None:
    async def main() -> None:
        child = await forkexec.spawn(
            ["sh", "-c", "echo $GREETING; echo oops >&2"], {**ENV, "GREETING": "hi"}
        )
        code, out, err = await finish(child)
        assert (code, out, err) == (0, b"hi\n", b"oops\n")

    run(main())


def test_the_child_reports_its_start_time_with_ready() -> None:
    """The caller never reads the child's /proc stat: that waits out an exec under way."""

    async def main() -> None:
        child = await forkexec.spawn(["sleep", "5"], ENV)
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
            assert child.start_time == int(fields[19])
        finally:
            os.kill(child.pid, 9)
            await finish(child)

    run(main())


def test_it_runs_in_a_session_of_its_own_at_nice_0_with_stdin_from_dev_null() -> None:
    async def main() -> None:
        script = "cut -d' ' -f6,19 /proc/$$/stat; cat; echo end"
        child = await forkexec.spawn(["sh", "-c", script], ENV)
        code, out, _ = await finish(child)
        sid, nice = out.split(b"\n")[0].split()
        assert int(sid) == child.pid  # the session leader is the container's process
        assert int(nice) == 0
        assert out.endswith(b"end\n")  # cat read end of file at once

    run(main())


def test_a_command_not_on_the_path_fails_the_start_with_enoent() -> None:
    async def main() -> None:
        with pytest.raises(forkexec.ChildFailed) as info:
            await forkexec.spawn(["no-such-binary-here"], ENV)
        assert (info.value.step, info.value.errno) == (forkexec.EXEC, errno.ENOENT)

    run(main())


def test_a_file_without_execute_permission_fails_the_start_with_eacces(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\necho no\n")
    if os.geteuid() == 0:
        plain.chmod(0o644)  # root may still not exec a file with no x bit at all

    async def main() -> None:
        with pytest.raises(forkexec.ChildFailed) as info:
            await forkexec.spawn([str(plain)], ENV)
        assert (info.value.step, info.value.errno) == (forkexec.EXEC, errno.EACCES)

    run(main())


def test_a_directory_is_not_an_executable(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(forkexec.ChildFailed) as info:
            await forkexec.spawn([str(tmp_path)], ENV)
        assert info.value.errno == errno.EACCES

    run(main())


def test_a_missing_working_directory_fails_the_start_at_chdir(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(forkexec.ChildFailed) as info:
            await forkexec.spawn(["true"], ENV, cwd=str(tmp_path / "nope"))
        assert (info.value.step, info.value.errno) == (forkexec.CHDIR, errno.ENOENT)

    run(main())


def test_a_failing_setup_hook_fails_the_start_with_its_message() -> None:
    def setup() -> None:
        raise forkexec.SetupFailed("cannot create the container's mount namespace")

    async def main() -> None:
        with pytest.raises(forkexec.ChildFailed) as info:
            await forkexec.spawn(["true"], ENV, setup=setup)
        assert info.value.step == forkexec.SETUP
        assert info.value.detail == b"cannot create the container's mount namespace"

    run(main())


def test_the_join_hook_runs_after_ready_and_before_exec(tmp_path: Path) -> None:
    marker = tmp_path / "joined"

    def join() -> None:
        marker.write_text("yes")

    async def main() -> None:
        child = await forkexec.spawn(["cat", str(marker)], ENV, join=join)
        code, out, _ = await finish(child)
        assert (code, out) == (0, b"yes")

    run(main())


def test_an_exec_that_fails_after_ready_is_the_containers_exit_126(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x7fNOT-AN-ELF\x00\x01")
    garbage.chmod(garbage.stat().st_mode | stat.S_IXUSR)

    async def main() -> None:
        child = await forkexec.spawn([str(garbage)], ENV)
        code, _, err = await finish(child)
        assert code == forkexec.CANNOT_EXECUTE
        assert b"exec format error" in err.lower()

    run(main())


@pytest.mark.skipif(os.geteuid() != 0, reason="raising a priority needs root (CAP_SYS_NICE)")
def test_a_raised_parent_priority_is_not_passed_on() -> None:
    async def main() -> None:
        before = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, -5)
        try:
            child = await forkexec.spawn(["sh", "-c", "cut -d' ' -f19 /proc/$$/stat"], ENV)
        finally:
            os.setpriority(os.PRIO_PROCESS, 0, before)
        code, out, _ = await finish(child)
        assert (code, int(out)) == (0, 0)

    run(main())


def test_the_parent_is_not_blocked_while_the_child_sets_up() -> None:
    """The child's set-up waits for a word the parent's loop sends only while spawn is
    pending: were the loop blocked, the set-up would give up and the start fail."""
    release_r, release_w = os.pipe()

    def setup() -> None:
        ready, _, _ = select.select([release_r], [], [], 30)
        if not ready:
            raise forkexec.SetupFailed("the parent's loop never ran")

    async def main() -> None:
        async def release() -> None:
            await asyncio.sleep(0)
            os.write(release_w, b"go")

        releaser = asyncio.create_task(release())
        child = await forkexec.spawn([sys.executable, "-c", "pass"], ENV, setup=setup)
        await releaser
        code, _, _ = await finish(child)
        assert code == 0

    try:
        run(main())
    finally:
        os.close(release_r)
        os.close(release_w)


def test_a_lowered_parent_priority_is_kept_and_the_start_does_not_fail() -> None:
    """Under `nice kubelite up` an unprivileged child could not go back to 0: it must not try."""

    async def main() -> None:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - a throwaway process that lowers its own priority
            code = 1
            try:
                os.setpriority(os.PRIO_PROCESS, 0, 5)
                if os.geteuid() == 0:
                    os.setuid(65534)  # nobody: no way back to a lower nice value
                child = asyncio.run(
                    forkexec.spawn(["sh", "-c", "cut -d' ' -f19 /proc/$$/stat"], ENV)
                )
                _, status = os.waitpid(child.pid, 0)
                out = _drain(child.stdout)
                code = 0 if (os.waitstatus_to_exitcode(status), int(out)) == (0, 5) else 2
            finally:
                os._exit(code)
        loop = asyncio.get_running_loop()
        _, status = await loop.run_in_executor(None, os.waitpid, pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0

    run(main())


def test_starts_asked_for_together_each_get_their_own_report(tmp_path: Path) -> None:
    """They are forked one after the other at the loop's next turn."""

    async def main() -> None:
        results = await asyncio.gather(
            *(forkexec.spawn(["sh", "-c", f"echo {i}"], ENV) for i in range(5)),
            forkexec.spawn(["no-such-binary-here"], ENV),
            forkexec.spawn(["true"], ENV, cwd=str(tmp_path / "nope")),
            return_exceptions=True,
        )
        for i, child in enumerate(results[:5]):
            assert isinstance(child, forkexec.Child)
            code, out, _ = await finish(child)
            assert (code, out) == (0, f"{i}\n".encode())
        missing, no_dir = results[5:]
        assert isinstance(missing, forkexec.ChildFailed) and missing.step == forkexec.EXEC
        assert isinstance(no_dir, forkexec.ChildFailed) and no_dir.step == forkexec.CHDIR

    run(main())


def test_the_first_hook_runs_even_when_the_start_fails(tmp_path: Path) -> None:
    marker = tmp_path / "first"

    def first() -> None:
        marker.write_text("yes")

    async def main() -> None:
        with pytest.raises(forkexec.ChildFailed) as info:
            await forkexec.spawn(["true"], ENV, cwd=str(tmp_path / "nope"), first=first)
        assert info.value.step == forkexec.CHDIR
        assert marker.read_text() == "yes"

    run(main())


@pytest.mark.parametrize(
    ("argv0", "env"),
    [
        ("sleep", {"PATH": "/usr/local/bin:/usr/bin/:/bin"}),
        ("sleep", {"PATH": ":/bin::"}),
        ("sleep", {}),
        ("./run", {"PATH": "/bin"}),
        ("/bin/sh", {"PATH": "/nowhere"}),
    ],
)
def test_exec_candidates_are_those_of_the_path(argv0: str, env: dict[str, str]) -> None:
    exe = os.fsencode(argv0)
    expected = (
        [exe]
        if os.path.dirname(exe)
        else [os.path.join(os.fsencode(d), exe) for d in os.get_exec_path(env)]
    )
    assert list(forkexec._candidates(argv0, env)) == expected
