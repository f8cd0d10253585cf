"""Forked processes of a governed program, for test_fork.py: run as
``python fork_scenarios.py SCENARIO CONFIG_JSON``. Each scenario builds a
client in this process, forks, and prints one JSON line per event, which
the test reads; the test drives the control plane (a pause after the
fork) between those lines."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from typing import Any

from execlave import Execlave
from execlave.errors import AgentPausedError, EnforcementUnavailableError, PolicyBlockedError


def say(**event: Any) -> None:
    print(json.dumps(event), flush=True)


def refuse(exe: Execlave, who: str) -> str:
    """A refused call, recorded with ``who`` in its arguments."""
    try:
        exe.enforce_policy("ops-agent", tools=["delete_all"], arguments={"who": who})
    except PolicyBlockedError:
        return "blocked"
    except AgentPausedError:
        return "paused"  # recorded as well
    return "allowed"


def wait_for_pause(exe: Execlave, seconds: float = 15.0) -> bool:
    """Calls until the kill switch refuses one; bounded, no timing asserted."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            exe.enforce_policy("ops-agent", tools=["noop"])
        except AgentPausedError:
            return True
        time.sleep(0.05)
    return False


def client(config: dict[str, Any], **options: Any) -> Execlave:
    return Execlave(api_key=config["api_key"], base_url=config["url"], **{**config["options"], **options})


def os_fork(config: dict[str, Any]) -> None:
    exe = client(config)
    exe.enforce_policy("ops-agent", tools=["noop"])  # the first sync is done
    refuse(exe, "before-fork")  # buffered at the fork: the parent's record
    pid = os.fork()
    if pid == 0:
        say(event="forked", refused=refuse(exe, "child"))
        say(event="child-paused", paused=wait_for_pause(exe))
        return  # a normal exit: atexit flushes the child's records
    refuse(exe, "parent")
    status = os.waitpid(pid, 0)[1]
    say(event="parent-done", child_exit=os.waitstatus_to_exitcode(status))


def before_first_sync(config: dict[str, Any]) -> None:
    exe = client(config, enforcement_on_outage="fail_closed")
    pid = os.fork()  # the policy sync hangs: no first sync yet
    if pid == 0:
        try:
            exe.enforce_policy("ops-agent", tools=["noop"])
            outcome = "allowed"
        except EnforcementUnavailableError:
            outcome = "unavailable"
        say(event="child-decided", outcome=outcome)
        return
    say(event="parent-done", child_exit=os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))


def remote(config: dict[str, Any]) -> None:
    exe = client(config, enforcement="remote")
    exe.enforce_policy("ops-agent", tools=["noop"])
    pid = os.fork()
    if pid == 0:
        exe.enforce_policy("ops-agent", tools=["noop"], arguments={"who": "remote-child"})
        say(event="child-decided", allowed=True, refused=refuse(exe, "remote-child"))
        return
    say(event="parent-done", child_exit=os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))


_mp_client: Execlave | None = None


def _mp_work(who: str) -> str:
    assert _mp_client is not None
    return refuse(_mp_client, who)


def _mp_paused(queue: Any) -> None:
    assert _mp_client is not None
    queue.put(refuse(_mp_client, "mp-process"))
    queue.put(wait_for_pause(_mp_client))


def multiprocessing_fork(config: dict[str, Any]) -> None:
    global _mp_client
    _mp_client = client(config)
    _mp_client.enforce_policy("ops-agent", tools=["noop"])
    context = multiprocessing.get_context("fork")
    pool = context.Pool(2)
    refused = pool.map(_mp_work, [f"mp-pool-{i}" for i in range(4)])
    pool.close()
    pool.join()  # workers end normally: their finalizers flush
    queue = context.Queue()
    process = context.Process(target=_mp_paused, args=(queue,))
    process.start()
    say(event="forked", refused=refused + [queue.get(timeout=30)])
    say(event="child-paused", paused=queue.get(timeout=30))
    process.join(30)
    say(event="parent-done", child_exit=process.exitcode)


if __name__ == "__main__":
    scenario, raw = sys.argv[1], sys.argv[2]
    {"os_fork": os_fork, "before_first_sync": before_first_sync, "remote": remote, "multiprocessing": multiprocessing_fork}[
        scenario
    ](json.loads(raw))
