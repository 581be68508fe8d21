"""`FakeTransaction`: begin on entering, commit or rollback on leaving, close either way."""

from __future__ import annotations

import pytest
from vocation_shared.testing.process import service_environment
from vocation_shared.testing.transaction import FakeTransaction

pytestmark = pytest.mark.unit


class Journal(FakeTransaction):
    """Writes down each step; `failing_commit` makes the commit raise."""

    def __init__(self, failing_commit: bool = False) -> None:
        self.steps: list[str] = []
        self._failing_commit = failing_commit

    async def begin(self) -> None:
        self.steps.append("begin")

    async def commit(self) -> None:
        self.steps.append("commit")
        if self._failing_commit:
            raise ConnectionError("commit lost")

    async def rollback(self) -> None:
        self.steps.append("rollback")

    async def close(self) -> None:
        self.steps.append("close")


async def test_a_block_that_ends_normally_commits_then_closes() -> None:
    async with Journal() as tx:
        tx.steps.append("work")
    assert tx.steps == ["begin", "work", "commit", "close"]


async def test_a_block_that_raises_rolls_back_closes_and_lets_the_exception_through() -> None:
    tx = Journal()
    with pytest.raises(LookupError):
        async with tx:
            raise LookupError("no such row")
    assert tx.steps == ["begin", "rollback", "close"]


async def test_a_commit_that_fails_still_closes_and_raises() -> None:
    tx = Journal(failing_commit=True)
    with pytest.raises(ConnectionError):
        async with tx:
            pass
    assert tx.steps == ["begin", "commit", "close"]


def test_a_service_process_environment_puts_the_test_s_variables_last() -> None:
    env = service_environment(
        "127.0.0.1:9092",
        "postgresql://db",
        8123,
        base={"PATH": "/bin", "VOCATION_HTTP_PORT": "1"},
        VOCATION_DEV_MODE="true",
    )
    assert env == {
        "PATH": "/bin",
        "VOCATION_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
        "VOCATION_DATABASE_URL": "postgresql://db",
        "VOCATION_HTTP_PORT": "8123",
        "VOCATION_DEV_MODE": "true",
    }
