"""Fixtures of the command tests: one real server subprocess per module, devices as
separate ``MEMENTO_HOME``s, a team per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.cli.commands import Device, DeviceFactory, create_token, teams
from tests.server.proc import ServerProcess, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server subprocess for the module; tests keep apart by team."""
    where = tmp_path_factory.mktemp("server")
    proc = start_server(where / "server.db", where / "server.log")
    yield proc
    proc.stop()


@pytest.fixture
def token(server: ServerProcess) -> str:
    """A token of a team of this test's own."""
    db = server.log_path.parent / "server.db"
    return create_token(db, f"team-{next(teams)}")


@pytest.fixture
def make_device(tmp_path: Path) -> DeviceFactory:
    """Devices with separate homes under this test's tmp dir."""

    def factory(name: str, **extra_env: str) -> Device:
        return Device(tmp_path / name, dict(extra_env))

    return factory


@pytest.fixture
def device_pair(make_device: DeviceFactory, server: ServerProcess, token: str) -> list[Device]:
    """Two devices of one member, configured for the shared server."""
    devices = [make_device("A"), make_device("B")]
    for device in devices:
        device.configure(server.url, token)
    return devices
