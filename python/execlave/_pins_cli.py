"""``execlave-pins``: review and accept the tool definition changes that an
instrumented session with ``tool_pins`` noticed (docs/tool-pins.md).

``diff`` shows what the server now serves against the lockfile and exits 1
while changes are pending (a CI gate); ``accept`` names each tool, asks, and
pins exactly what it showed. The reading, the diff and the pinning are the
core's, shared with the Node package's command.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import PackageNotFoundError, version

from ._native import NativePinsReview, report_baseline
from .errors import ExeclaveError

COMMAND = "execlave-pins"


def _version() -> str:
    try:
        return version("execlave-sdk")
    except PackageNotFoundError:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Review and accept tool definition changes noticed by tool_pins.",
        epilog=f"example: {COMMAND} diff tools.lock.json && {COMMAND} accept tools.lock.json",
    )
    parser.add_argument("-v", "--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="{diff,accept}")
    diff = commands.add_parser("diff", help="show the pending changes; exit 1 if there are any")
    accept = commands.add_parser("accept", help="pin the pending definitions after a confirmation")
    accept.add_argument("-y", "--yes", action="store_true", help="accept without asking (for scripts)")
    accept.add_argument(
        "--report",
        action="store_true",
        help="also send the accepted set as the agent's tool-integrity baseline (needs EXECLAVE_API_KEY)",
    )
    accept.add_argument("--agent", default="", help="with --report: the agent's id (ops-agent)")
    accept.add_argument("--server", default="", help="with --report: the MCP server's name, as it introduces itself")
    for sub in (diff, accept):
        sub.add_argument("lockfile", help="the lockfile given as tool_pins")
        sub.add_argument("tools", nargs="*", help="only these tools (default: every pending one)")
    return parser


def _confirm(names: list[str]) -> bool:
    if not sys.stdin.isatty():
        raise ExeclaveError("accept asks for confirmation on a terminal; pass --yes to accept without asking")
    answer = input(f"Pin {len(names)} tool definition(s): {', '.join(names)}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    report = getattr(args, "report", False)
    if report and (not args.agent or not args.server):
        raise ExeclaveError("--report needs --agent <agentId> and --server <the MCP server's name>")
    review = NativePinsReview(args.lockfile, args.tools)
    names = review.names()
    if not names:
        print(f"{COMMAND}: no pending tool changes for {args.lockfile}")
        return _report(args) if report else 0
    print("\n".join(review.lines()))
    if args.command == "diff":
        print(f"{COMMAND}: {len(names)} pending change(s); review, then run `{COMMAND} accept {args.lockfile}`")
        return 1
    print(f"{COMMAND}: will pin: {', '.join(names)}")
    if not args.yes and not _confirm(names):
        print(f"{COMMAND}: nothing accepted", file=sys.stderr)
        return 1
    count = review.accept()
    print(f"{COMMAND}: accepted {count} tool definition(s) into {args.lockfile}")
    return _report(args) if report else 0


def _report(args: argparse.Namespace) -> int:
    """Sends the lockfile's accepted set as the agent's baseline."""
    sent = json.loads(report_baseline(args.lockfile, args.server, args.agent))
    print(f"{COMMAND}: sent {sent['sent']} tool definition(s) as the baseline of agent {args.agent}")
    if sent["skipped"]:
        print(f"{COMMAND}: left out (no definition kept in the lockfile): {', '.join(sent['skipped'])}")
    return 0


def main() -> None:
    try:
        code = run()
    except ExeclaveError as err:
        print(f"{COMMAND}: {err}", file=sys.stderr)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
