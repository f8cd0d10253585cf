"""Governed / bare ``call_tool`` over memory streams, paired.

Two real ClientSessions, each with its own in-process server (a trivial
``echo`` tool), run in one event loop. A round runs ``--batch`` calls on
each session in quarters ordered A B B A, so that a noisy neighbour hits
both alike; each round gives one ratio (governed time / bare time), and a
variant's figure is the median over all rounds of all runs. Each run builds
a fresh pair of sessions, the governed one built first in every other run,
so that neither side keeps the same place in memory or in the event loop.
The A/A variant governs neither session: it is the noise floor.

Two clocks: the thread's CPU time (``time.thread_time``; client, server and
the governed decision all run on this one thread, so it is all the work of
a call, without the time other processes held the CPU: on a shared machine
the steadier figure) and the wall clock (``time.perf_counter``).

    python/.venv/bin/maturin develop --release   # the bench wants the release build
    python/.venv/bin/python python/bench/call_tool.py [--runs N] [--rounds N] [--batch N] [--json]

``python/bench/compare.py`` runs this script on two source trees (before /
after) in alternating processes and prints them side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import execlave  # noqa: E402
from execlave import Execlave  # noqa: E402
from execlave.integrations.mcp import instrument_mcp_session  # noqa: E402
from support import GUARD, MCP_VERSION, in_memory_session  # noqa: E402

# Calls timed per clock reading: the clocks' own cost (a system call for
# the CPU clock) stays far below the call's.
QUARTER = 5


def realistic_policies() -> list[dict[str, Any]]:
    """24 policies: the guard, and 23 others for other agents and tools."""
    others = [
        {
            "name": f"Policy {i}",
            "policyType": "tool_invocation",
            "enforcementMode": "block" if i % 3 else "warn",
            "appliesToAgents": [f"agent-{i}"] if i % 2 else ["ops-agent"],
            "ruleDefinition": {"deny": [f"tool_{i}_*"], "arguments": [
                {"tools": [f"tool_{i}"], "argument": "path", "kind": "path", "allow": ["/srv/**"]}
            ]},
        }
        for i in range(23)
    ]
    return [GUARD, *others]


async def quarter(session: Any) -> tuple[float, float]:
    """CPU and wall seconds of QUARTER calls on `session`."""
    cpu, wall = time.thread_time(), time.perf_counter()
    for _ in range(QUARTER):
        await session.call_tool("echo", {"text": "bench"})
    return time.thread_time() - cpu, time.perf_counter() - wall


async def paired_round(bare: Any, governed: Any, batch: int) -> tuple[float, float, float, float]:
    """`batch` calls on each session in quarters A B B A: (bare CPU,
    governed CPU, bare wall, governed wall) seconds."""
    a_cpu = b_cpu = a_wall = b_wall = 0.0
    for _ in range(max(1, batch // (2 * QUARTER))):
        for session, is_bare in ((bare, True), (governed, False), (governed, False), (bare, True)):
            cpu, wall = await quarter(session)
            if is_bare:
                a_cpu += cpu
                a_wall += wall
            else:
                b_cpu += cpu
                b_wall += wall
    return a_cpu, b_cpu, a_wall, b_wall


async def one_run(
    setup: Callable[[Any], object] | None, governed_first: bool, rounds: int, batch: int
) -> list[tuple[float, float, float, float]]:
    async with AsyncExitStack() as stack:
        if governed_first:
            governed, _ = await stack.enter_async_context(in_memory_session(setup))
            bare, _ = await stack.enter_async_context(in_memory_session())
        else:
            bare, _ = await stack.enter_async_context(in_memory_session())
            governed, _ = await stack.enter_async_context(in_memory_session(setup))
        for _ in range(2):  # warm up both (the first call also lists the tools)
            await paired_round(bare, governed, batch)
        return [await paired_round(bare, governed, batch) for _ in range(rounds)]


def summary(samples: list[list[tuple[float, float, float, float]]], batch: int) -> dict[str, Any]:
    """Medians over all rounds; the spread: the rounds' quartiles and the
    range of the runs' own medians."""
    calls = max(1, batch // (2 * QUARTER)) * 2 * QUARTER
    rounds = [r for run in samples for r in run]
    out: dict[str, Any] = {}
    for clock, (a, b) in (("cpu", (0, 1)), ("wall", (2, 3))):
        ratios = [r[b] / r[a] for r in rounds]
        q = statistics.quantiles(ratios, n=4)
        run_medians = [statistics.median(r[b] / r[a] for r in run) for run in samples]
        out[clock] = {
            "ratio": statistics.median(ratios),
            "q1": q[0],
            "q3": q[2],
            "run_min": min(run_medians),
            "run_max": max(run_medians),
            "bare_us": statistics.median(r[a] for r in rounds) / calls * 1e6,
            "governed_us": statistics.median(r[b] for r in rounds) / calls * 1e6,
        }
    out["rounds"] = len(rounds)
    return out


async def run_variant(exe: Execlave | None, runs: int, rounds: int, batch: int) -> dict[str, Any]:
    setup = (lambda s: instrument_mcp_session(s, exe, agent_id="ops-agent")) if exe else None
    samples = [await one_run(setup, i % 2 == 1, rounds, batch) for i in range(runs)]
    if exe is not None:
        calls = runs * (rounds + 2) * max(1, batch // (2 * QUARTER)) * 2 * QUARTER
        assert exe.stats()["decisions"] >= calls, "the governed session decided every call"
    return summary(samples, batch)


class StubSession:
    """A session whose call_tool returns at once: what remains is exactly
    what the wrapper does per call."""

    async def call_tool(self, name: str, arguments: Any = None, *rest: Any, **kw: Any) -> Any:
        return None


async def wrapper_alone(n: int = 20_000) -> tuple[float, float]:
    """Median CPU µs per call of a stub call_tool, bare and governed (no sink)."""
    bare, governed = StubSession(), StubSession()
    with Execlave(policies=realistic_policies()) as exe:
        instrument_mcp_session(governed, exe, agent_id="ops-agent")
        medians = []
        for session in (bare, governed, bare, governed):
            rounds = []
            for _ in range(20):
                start = time.thread_time()
                for _ in range(n // 20):
                    await session.call_tool("echo", {"text": "bench"})
                rounds.append((time.thread_time() - start) / (n // 20) * 1e6)
            medians.append(statistics.median(rounds))
    return min(medians[0], medians[2]), min(medians[1], medians[3])


VARIANTS = ("A/A control (both sessions bare)", "governed, 24 policies, no record sink", "governed, 24 policies, audit log")


async def measure(runs: int, rounds: int, batch: int) -> dict[str, Any]:
    rows: dict[str, Any] = {VARIANTS[0]: await run_variant(None, runs, rounds, batch)}
    with Execlave(policies=realistic_policies()) as exe:
        rows[VARIANTS[1]] = await run_variant(exe, runs, rounds, batch)
    with tempfile.TemporaryDirectory() as tmp:
        with Execlave(policies=realistic_policies(), audit_log=Path(tmp) / "audit.jsonl") as exe:
            rows[VARIANTS[2]] = await run_variant(exe, runs, rounds, batch)
    stub_bare, stub_gov = await wrapper_alone()
    return {
        "python": sys.version.split()[0],
        "mcp": MCP_VERSION,
        "execlave": str(Path(execlave.__file__).parent),
        "runs": runs,
        "rounds": rounds,
        "batch": batch,
        "variants": rows,
        "stub_bare_us": stub_bare,
        "stub_governed_us": stub_gov,
    }


def print_table(result: dict[str, Any]) -> None:
    print(
        f"python {result['python']}, mcp {result['mcp']}, execlave from {result['execlave']}\n"
        f"{result['runs']} runs x {result['rounds']} rounds x {result['batch']} calls per side (A B B A)"
    )
    for clock in ("cpu", "wall"):
        print(f"\n{clock} time")
        print(f"{'variant':<40} {'bare µs':>8} {'gov µs':>8} {'ratio':>7} {'IQR':>12} {'runs':>12}")
        for name, r in result["variants"].items():
            c = r[clock]
            print(
                f"{name:<40} {c['bare_us']:>8.1f} {c['governed_us']:>8.1f} {c['ratio']:>7.3f} "
                f"{c['q1']:.3f}-{c['q3']:.3f} {c['run_min']:.3f}-{c['run_max']:.3f}"
            )
    gap = result["stub_governed_us"] - result["stub_bare_us"]
    print(
        f"\nthe wrapper alone (stub call_tool, CPU): bare {result['stub_bare_us']:.2f} µs, "
        f"governed {result['stub_governed_us']:.2f} µs per call (+{gap:.2f} µs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = asyncio.run(measure(args.runs, args.rounds, args.batch))
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
