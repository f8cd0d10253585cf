from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support import ControlPlane  # noqa: E402


@pytest.fixture
def control_plane_factory() -> Iterator[type[ControlPlane]]:
    started: list[ControlPlane] = []

    class Started(ControlPlane):
        def __init__(self, **options: object) -> None:
            super().__init__(**options)
            started.append(self)

    yield Started
    for cp in started:
        cp.close()
