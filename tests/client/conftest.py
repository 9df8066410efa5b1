"""Fixtures for client tests: a real server and a factory of devices."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.client.devices import Device
from tests.conftest import Api

DeviceFactory = Callable[..., Device]


@pytest.fixture
def make_device(tmp_path: Path, api: Api) -> Iterator[Callable[..., Any]]:
    """Create devices with separate homes, all of one team unless told otherwise."""
    made: list[Device] = []

    async def factory(
        name: str, team: str = "acme", member: str = "alice", **settings: Any
    ) -> Device:
        token = await api.token(team, member)
        device = Device(tmp_path / name, api.url, token, **settings)
        made.append(device)
        return device

    yield factory
    for device in made:
        device.close()
