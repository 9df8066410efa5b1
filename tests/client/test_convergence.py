"""Property: three devices, random writes, edits, deletes, sync orders and wrong clocks converge."""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.client.devices import Device, served_devices

DEVICES = 3
Op = tuple[str, int, int, int]

ops = st.lists(
    st.tuples(
        st.sampled_from(["save", "edit", "retitle", "delete", "push", "pull", "skew"]),
        st.integers(0, DEVICES - 1),
        st.integers(0, 50),
        st.integers(-3, 3),
    ),
    min_size=1,
    max_size=30,
)


async def _scenario(
    root: Path, strategy: str, steps: list[Op], twins: str | bool = False
) -> list[list[tuple[object, ...]]]:
    async with served_devices(root, DEVICES, conflict_strategy=strategy) as devices:
        for counter, (kind, who, pick, hours) in enumerate(steps, start=1):
            await _step(devices[who], kind, pick, hours, counter, twins)
        await _sync_until_quiet(devices)
        return [device.live() for device in devices]


async def _sync_until_quiet(devices: list[Device]) -> None:
    """Everyone pushes and pulls, round after round, until a round in which nobody had
    anything to push and nothing is left to push.

    A pull can leave work to push (a settled conflict, a twin's deletion that takes its
    fold with it), so one round is not always enough; a few must be.
    """
    for _ in range(6):
        sent = 0
        for device in devices:
            sent += sum(report.sent for report in await device.push())
            await device.pull()
        if sent == 0 and not any(device.pending() for device in devices):
            return
    raise AssertionError("devices still had changes to push after six rounds of sync")


def _shared(group: int) -> str:
    """The text of twin group ``group``: 30 words no other group uses."""
    return " ".join(f"g{group}w{i}" for i in range(30))


async def _step(
    device: Device, kind: str, pick: int, hours: int, counter: int, twins: str | bool
) -> None:
    ids = [row[0] for row in device.app.execute("SELECT id FROM observations ORDER BY id")]
    if twins and kind == "save":
        # The same text (exact) or a variant of it (near) saved on several devices, or
        # twice on one: twins that dedup must fold together everywhere.
        group = pick % 3
        near = f" variant {counter}" if twins == "near" else ""
        device.save(title=f"title {group}", content=_shared(group) + near)
        return
    if kind == "save" or (kind in ("edit", "retitle", "delete") and not ids):
        device.save(title=f"title {counter}", content=f"content {counter}")
    elif kind == "edit":
        device.edit(ids[pick % len(ids)], content=f"edited {counter}")
    elif kind == "retitle":
        device.edit(ids[pick % len(ids)], title=f"retitled {counter}")
    elif kind == "delete":
        device.delete(ids[pick % len(ids)])
    elif kind == "push":
        await device.push()
    elif kind == "pull":
        await device.pull()
    else:
        device.skew = timedelta(hours=hours * 7)  # clocks hours or days wrong, both ways


@pytest.mark.parametrize("twins", [False, "exact", "near"], ids=["distinct", "twins", "near"])
@pytest.mark.parametrize("strategy", ["last_write_wins", "merge"])
@settings(
    max_examples=int(os.environ.get("CONVERGENCE_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=ops)
def test_devices_converge(strategy: str, twins: str | bool, steps: list[Op]) -> None:
    """Whatever the writes, twins, sync order and clock errors, every device ends the same."""
    with tempfile.TemporaryDirectory() as tmp:
        views = asyncio.run(_scenario(Path(tmp), strategy, steps, twins))
    assert views[0] == views[1] == views[2]


def test_the_scenario_does_sync_something() -> None:
    """A sanity check that the harness really moves data between devices."""
    steps: list[Op] = [("save", 0, 0, 0), ("save", 1, 0, 0), ("edit", 2, 0, 0)]
    with tempfile.TemporaryDirectory() as tmp:
        views = asyncio.run(_scenario(Path(tmp), "last_write_wins", steps))
    assert len(views[0]) == 3
    assert views[0] == views[1] == views[2]


def test_the_near_scenario_does_fold_variants() -> None:
    """A sanity check that near variants saved on two devices end as one row everywhere."""
    steps: list[Op] = [("save", 0, 0, 0), ("save", 1, 0, 0)]
    with tempfile.TemporaryDirectory() as tmp:
        views = asyncio.run(_scenario(Path(tmp), "last_write_wins", steps, "near"))
    assert len(views[0]) == 1
    assert views[0] == views[1] == views[2]
