"""The demo agent in Python: a real MCP filesystem server over stdio,
governed by execlave with the example policy file. No account, no network.

    python examples/python/demo_agent.py

(from the repository, after `npm install` and with the package installed:
`npm run test:python` builds it into python/.venv; then
`python/.venv/bin/python examples/python/demo_agent.py`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from execlave import Execlave
from execlave.errors import EnforcementHaltError, PolicyBlockedError
from execlave.integrations.mcp import instrument_mcp_session
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
POLICY_FILE = REPO / "examples" / "policies" / "filesystem.json"
SERVER = REPO / "node_modules" / "@modelcontextprotocol" / "server-filesystem" / "dist" / "index.js"


async def main() -> None:
    # A sandbox the filesystem server may touch: data/ (readable, out/
    # writable) and secrets/ (inside the server's reach, off limits by policy).
    sandbox = Path(tempfile.mkdtemp(prefix="execlave-demo-")).resolve()
    data = sandbox / "data"
    (data / "out" / "published").mkdir(parents=True)
    (sandbox / "secrets").mkdir()
    (data / "notes.txt").write_text("Quarterly numbers are in.\n")
    (sandbox / "secrets" / "api-key.txt").write_text("sk-not-for-agents\n")
    audit_log = sandbox / "audit.jsonl"

    # Writes under data/out/published/ need a human's approval (the policy
    # "Publishing needs a human", require_approval). A real app would pass
    # execlave.approvers.terminal_approver() or post to Slack; this scripted
    # approver says yes to a final report and no to a draft.
    approvals: list[str] = []

    async def approver(request: dict[str, Any]) -> dict[str, Any]:
        name = Path(request["arguments"]["path"]).name
        ok = "DRAFT" not in str(request["arguments"].get("content"))
        approvals.append(f"{request['tool']} {name}: {'approved' if ok else 'refused'}")
        return {"approved": True} if ok else {"approved": False, "reason": "drafts are not published"}

    exe = Execlave(policies=POLICY_FILE, audit_log=audit_log, approver=approver)
    steps: list[tuple[str, str, dict[str, Any]]] = [
        ("list the sandbox roots", "list_allowed_directories", {}),
        ("read a data file", "read_text_file", {"path": str(data / "notes.txt")}),
        ("write a report", "write_file", {"path": str(data / "out" / "report.txt"), "content": "ok\n"}),
        ("look at the tree (warn policy)", "directory_tree", {"path": str(data)}),
        ("move a file (denied tool)", "move_file", {"source": str(data / "notes.txt"), "destination": str(data / "x.txt")}),
        ("make a directory (not on the allowlist)", "create_directory", {"path": str(data / "new")}),
        ("read /etc/passwd (outside the tree)", "read_text_file", {"path": "/etc/passwd"}),
        ("read a secret through ..", "read_text_file", {"path": str(data / ".." / "secrets" / "api-key.txt")}),
        ("write outside out/", "write_file", {"path": str(sandbox / "secrets" / "pwned.txt"), "content": "x"}),
        ("publish the report (needs approval)", "write_file",
         {"path": str(data / "out" / "published" / "report.txt"), "content": "final\n"}),
        ("publish a draft (needs approval)", "write_file",
         {"path": str(data / "out" / "published" / "draft.txt"), "content": "DRAFT\n"}),
    ]
    rows: list[list[str]] = []
    params = StdioServerParameters(command="node", args=[str(SERVER), str(sandbox)])
    with open(sandbox / "server.log", "w") as server_log:
        async with stdio_client(params, errlog=server_log) as (read, write):
            async with ClientSession(read, write) as session:
                instrument_mcp_session(session, exe, agent_id="ops-agent")
                await session.initialize()
                for what, tool, arguments in steps:
                    try:
                        result = await session.call_tool(tool, arguments)
                    except PolicyBlockedError as exc:
                        why = "; ".join(f"{v['rule']}: {v['message']}" for v in exc.violations)
                        rows.append([what, tool, "BLOCKED", why])
                        continue
                    except EnforcementHaltError as exc:
                        rows.append([what, tool, f"REFUSED ({type(exc).__name__})", str(exc)])
                        continue
                    text = getattr(result.content[0], "text", "") if result.content else ""
                    failed = getattr(result, "isError", None) or getattr(result, "is_error", False)
                    rows.append([what, tool, "tool error" if failed else "allowed", first_line(text)])
    exe.shutdown()

    # The audit log holds one record per call, in call order: it shows which
    # allowed calls carried warnings.
    records = [json.loads(line) for line in audit_log.read_text().splitlines()]
    for row, record in zip(rows, records):
        approval = record["metadata"].get("approval") or {}
        if approval.get("outcome") == "granted":
            row[2] = f"allowed, approved ({approval['id']})"
        if record["metadata"]["decision"] == "warned":
            row[2] = "allowed, warned"
            row[3] = "; ".join(w["message"] for w in record["metadata"]["warnings"])

    print_table(["what the agent tried", "tool", "outcome", "why / result"], rows)
    stats = exe.stats()
    print(
        f"\n{stats['decisions']} decisions: {stats['allowed']} allowed ({stats['warned']} with warnings), "
        f"{stats['blocked']} blocked."
    )
    print(f"secrets/pwned.txt exists after the blocked write: {(sandbox / 'secrets' / 'pwned.txt').exists()}")
    print(f"data/new exists after the blocked mkdir: {(data / 'new').exists()}")
    print(f"approver: {'; '.join(approvals)}")
    published = data / "out" / "published"
    print(f"published/report.txt exists after its approval: {(published / 'report.txt').exists()}")
    print(f"published/draft.txt exists after its refusal: {(published / 'draft.txt').exists()}")
    print(f"audit log (one record per call): {audit_log}")


def first_line(text: str) -> str:
    line = str(text).split("\n")[0]
    return line if len(line) <= 60 else line[:57] + "..."


def print_table(header: list[str], body: list[list[str]]) -> None:
    widths = [
        min(200 if i == len(header) - 1 else 60, max(len(h), *(len(r[i]) for r in body)))
        for i, h in enumerate(header)
    ]

    def fmt(row: list[str]) -> str:
        return " | ".join(str(c)[: widths[i]].ljust(widths[i]) for i, c in enumerate(row))

    print(fmt(header))
    print("-+-".join("-" * w for w in widths))
    for row in body:
        print(fmt(row))


if __name__ == "__main__":
    if sys.version_info < (3, 10):
        sys.exit("Python 3.10 or newer is needed")
    asyncio.run(main())
