"""Governed / bare ``call_tool`` over memory streams, paired.

Two real ClientSessions, each with its own in-process server (a trivial
``echo`` tool), run in one event loop. Each round runs a batch of calls on
the bare session and on the governed one, in the order A B B A, so that a
noisy neighbour hits both alike; each round gives one ratio (governed time /
bare time) and a variant's figure is the median over all rounds. The A/A
variant governs neither session: it is the noise floor.

    python/.venv/bin/maturin develop --release   # the bench wants the release build
    python/.venv/bin/python python/bench/call_tool.py [--rounds N] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from execlave import Execlave  # noqa: E402
from execlave.integrations.mcp import instrument_mcp_session  # noqa: E402
from support import GUARD, in_memory_session  # noqa: E402


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


async def one(session: Any) -> float:
    start = time.perf_counter()
    await session.call_tool("echo", {"text": "bench"})
    return time.perf_counter() - start


async def paired_round(bare: Any, governed: Any, batch: int) -> tuple[float, float]:
    """`batch` calls on each session, alternating call by call (A B B A), so
    that the two sides of a round see the same machine."""
    a = b = 0.0
    for _ in range(batch // 2):
        a += await one(bare)
        b += await one(governed)
        b += await one(governed)
        a += await one(bare)
    return a, b


class StubSession:
    """A session whose call_tool returns at once: what remains is exactly
    what the wrapper does per call."""

    async def call_tool(self, name: str, arguments: Any = None, *rest: Any, **kw: Any) -> Any:
        return None


async def run_variant(name: str, exe: Execlave | None, rounds: int, batch: int) -> dict[str, float]:
    setup = (lambda s: instrument_mcp_session(s, exe, agent_id="ops-agent")) if exe else None
    async with in_memory_session() as (bare, _), in_memory_session(setup) as (governed, _):
        await paired_round(bare, governed, batch)  # warm up both
        ratios, bare_us, gov_us = [], [], []
        for _ in range(rounds):
            a, b = await paired_round(bare, governed, batch)
            ratios.append(b / a)
            bare_us.append(a / batch * 1e6)
            gov_us.append(b / batch * 1e6)
    if exe is not None:
        assert exe.stats()["decisions"] >= rounds * batch, "the governed session decided every call"
    return {
        "ratio": statistics.median(ratios),
        "bare_us": statistics.median(bare_us),
        "governed_us": statistics.median(gov_us),
        "q1": statistics.quantiles(ratios, n=4)[0],
        "q3": statistics.quantiles(ratios, n=4)[2],
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    rows = []
    rows.append(("A/A control (both sessions bare)", await run_variant("aa", None, args.rounds, args.batch)))
    with Execlave(policies=realistic_policies()) as exe:
        rows.append(("governed, 24 policies, no record sink", await run_variant("gov", exe, args.rounds, args.batch)))
    with tempfile.TemporaryDirectory() as tmp:
        with Execlave(policies=realistic_policies(), audit_log=Path(tmp) / "audit.jsonl") as exe:
            rows.append(("governed, 24 policies, audit log", await run_variant("log", exe, args.rounds, args.batch)))
    stub_bare, stub_gov = await wrapper_alone()
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds x {args.batch} calls per side (A B B A)")
    print(f"{'variant':<42} {'bare µs':>8} {'governed µs':>12} {'ratio (median)':>15} {'IQR':>13}")
    for name, r in rows:
        print(
            f"{name:<42} {r['bare_us']:>8.1f} {r['governed_us']:>12.1f} {r['ratio']:>15.3f} "
            f"{r['q1']:.3f}-{r['q3']:.3f}"
        )
    print(f"\nthe wrapper alone (stub call_tool): bare {stub_bare:.2f} µs, governed {stub_gov:.2f} µs per call "
          f"(+{stub_gov - stub_bare:.2f} µs)")


async def wrapper_alone(n: int = 20_000) -> tuple[float, float]:
    """Median µs per call of a stub call_tool, bare and governed (no sink)."""
    bare, governed = StubSession(), StubSession()
    with Execlave(policies=realistic_policies()) as exe:
        instrument_mcp_session(governed, exe, agent_id="ops-agent")
        medians = []
        for session in (bare, governed, bare, governed):
            rounds = []
            for _ in range(20):
                start = time.perf_counter()
                for _ in range(n // 20):
                    await session.call_tool("echo", {"text": "bench"})
                rounds.append((time.perf_counter() - start) / (n // 20) * 1e6)
            medians.append(statistics.median(rounds))
    return min(medians[0], medians[2]), min(medians[1], medians[3])


if __name__ == "__main__":
    asyncio.run(main())
