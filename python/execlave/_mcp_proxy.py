"""``execlave-mcp``: the governance proxy for MCP hosts whose client code
you cannot wrap (docs/mcp-proxy.md).

The relay, its command line and ``--help`` are the core's
(``core/src/relay/``), shared with the npm package's ``execlave-mcp``: this
launcher hands over its argv and exits with the relay's code. It never
touches stdin or stdout (the relay owns them).
"""

from __future__ import annotations

import sys

from . import _native


def main() -> None:
    sys.exit(_native.run_proxy(sys.argv[1:]))


if __name__ == "__main__":
    main()
