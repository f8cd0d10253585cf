"""A forked child of a governed process is governed (gunicorn --preload,
celery prefork, multiprocessing with fork): the core's background runtime,
whose threads the child does not have, starts again in it with the
parent's last policy set. A pause made after the fork applies in the child,
a child forked before the first sync is not stuck, remote decisions work,
its records arrive (each record once), and it exits promptly.

Each scenario runs in a Python process of its own (fork_scenarios.py), so
that the fork copies a plain program, not the test runner."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest
from support import GUARD, python_env

if not hasattr(os, "fork"):
    pytest.skip("no fork() on this platform", allow_module_level=True)

SCRIPT = Path(__file__).with_name("fork_scenarios.py")

FAST = {
    "policy_refresh_ms": 150,
    "poll_interval_ms": 100,
    "flush_interval_ms": 100,
    "first_sync_timeout_ms": 1500,
    "request_timeout_ms": 1000,
    "shutdown_timeout_ms": 3000,
}


class Scenario:
    """fork_scenarios.py running one scenario; its events, line by line."""

    def __init__(self, cp: Any, name: str, **options: Any) -> None:
        config = {"url": cp.url, "api_key": cp.api_key, "options": {**FAST, **options}}
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), name, json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=python_env(),
            # Its own process group: the forked children are in it, and a
            # failed scenario kills them all.
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put("")

    def next(self, event: str) -> dict[str, Any]:
        try:
            # Bounded: a child stuck on the parent's runtime never answers.
            line = self.lines.get(timeout=40)
        except queue.Empty:
            self.fail(f"hung before {event}")
        if not line:
            self.fail(f"ended before {event}")
        got: dict[str, Any] = json.loads(line)
        assert got["event"] == event, got
        return got

    def finish(self) -> None:
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.fail("hung at exit")
        if self.proc.returncode != 0:
            self.fail(f"exited {self.proc.returncode}")

    def kill(self) -> None:
        """Kills the scenario and every process it forked."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def fail(self, why: str) -> None:
        self.kill()
        assert self.proc.stderr is not None
        err = self.proc.stderr.read()
        pytest.fail(f"fork scenario {why}:\n{err[-3000:]}")


@pytest.fixture
def scenarios() -> Iterator[list[Scenario]]:
    started: list[Scenario] = []
    yield started
    for run in started:
        run.kill()  # after a failed assertion too: no forked child is left behind


def records_by_who(cp: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trace in cp.traces():
        try:
            who = json.loads(trace.get("input") or "{}").get("who")
        except ValueError:
            continue
        if who is not None:
            counts[who] = counts.get(who, 0) + 1
    return counts


def test_a_child_of_os_fork_follows_the_kill_switch_and_its_records_arrive(
    control_plane_factory: Any, scenarios: list[Scenario]
) -> None:
    cp = control_plane_factory(policies=[GUARD])
    run = Scenario(cp, "os_fork")
    scenarios.append(run)
    assert run.next("forked")["refused"] == "blocked"
    cp.call("pauseAgent", "ops-agent", "after the fork")
    assert run.next("child-paused")["paused"] is True
    assert run.next("parent-done")["child_exit"] == 0
    run.finish()
    # The child's record arrived (flushed at its exit); the one buffered in
    # the parent at the fork arrived once, not once per process.
    assert records_by_who(cp) == {"before-fork": 1, "child": 1, "parent": 1}


def test_a_child_forked_before_the_first_sync_is_not_stuck(
    control_plane_factory: Any, scenarios: list[Scenario]
) -> None:
    cp = control_plane_factory(policies=[GUARD])
    cp.call("hang", {"match": "/api/v1/policies"})
    run = Scenario(cp, "before_first_sync")
    scenarios.append(run)
    # first_sync_timeout_ms holds in the child: fail_closed refuses.
    assert run.next("child-decided")["outcome"] == "unavailable"
    assert run.next("parent-done")["child_exit"] == 0
    cp.call("hang", {"match": "/api/v1/policies", "on": False})
    run.finish()


def test_remote_decisions_work_in_a_forked_child(
    control_plane_factory: Any, scenarios: list[Scenario]
) -> None:
    cp = control_plane_factory(policies=[GUARD])
    run = Scenario(cp, "remote")
    scenarios.append(run)
    assert run.next("child-decided")["refused"] == "blocked"
    assert run.next("parent-done")["child_exit"] == 0
    run.finish()
    # The child's allowed call was the control plane's to decide (the
    # denied one is refused by name, without asking).
    asked = cp.call("enforceRequests")
    assert [r["metadata"]["toolArguments"] for r in asked if r["tools"] == ["noop"]][-1] == {"who": "remote-child"}


def test_multiprocessing_fork_workers_are_governed_and_flushed(
    control_plane_factory: Any, scenarios: list[Scenario]
) -> None:
    cp = control_plane_factory(policies=[GUARD])
    run = Scenario(cp, "multiprocessing")
    scenarios.append(run)
    assert run.next("forked")["refused"] == ["blocked"] * 5
    cp.call("pauseAgent", "ops-agent", "after the fork")
    assert run.next("child-paused")["paused"] is True
    assert run.next("parent-done")["child_exit"] == 0
    run.finish()
    # Pool workers and the process end with os._exit: multiprocessing's
    # finalizers flushed them.
    assert records_by_who(cp) == {**{f"mp-pool-{i}": 1 for i in range(4)}, "mp-process": 1}
