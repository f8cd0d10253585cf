"""The decision cases shared with the Node suite
(__test__/data/decision-cases.json, run there by
__test__/decision-cases.test.mjs): both hosts must decide alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from execlave import Execlave
from execlave.errors import PolicyBlockedError
from support import REPO

CASES = json.loads((REPO / "__test__" / "data" / "decision-cases.json").read_text())["cases"]


def arguments_of(call: dict[str, Any]) -> Any:
    if "nestedDepth" not in call:
        return call.get("arguments")
    deep: list[Any] = []
    for _ in range(1, call["nestedDepth"]):
        deep = [deep]
    return {**(call.get("arguments") or {"a": "ok"}), "deep": deep}


def reasons(violations: list[dict[str, Any]]) -> list[list[str]]:
    return [[v["policyName"], v["rule"]] for v in violations]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
async def test_decision_case(case: dict[str, Any]) -> None:
    with Execlave(policies=case["policies"]) as exe:
        for call in case["calls"]:
            what = f"{call['tool']} {json.dumps(call.get('arguments'))}"
            try:
                result = await exe.aenforce_policy(
                    agent_id=case.get("agentId", "ops-agent"), tools=[call["tool"]], arguments=arguments_of(call)
                )
            except PolicyBlockedError as blocked:
                assert call["expect"] == "block", f"{what}: expected {call['expect']}, got {blocked}"
                assert reasons(blocked.violations) == call["reasons"], what
                continue
            assert call["expect"] != "block", f"{what}: expected a block"
            expected = call["reasons"] if call["expect"] == "warn" else []
            assert reasons(result["warnings"]) == expected, what
