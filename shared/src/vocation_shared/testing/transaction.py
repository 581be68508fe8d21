"""An in-memory transaction: the enter/exit plumbing a service's fake unit of work subclasses."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class FakeTransaction:
    """`async with` it: `begin` on entering; `commit` when the block ends normally, `rollback` when
    it raises (the block's exception goes on), then `close` either way.

    A service's fake unit of work subclasses it and overrides the steps it needs.
    """

    async def begin(self) -> None:
        """Start the transaction (bind the fake repositories, save what a rollback restores)."""

    async def commit(self) -> None:
        """Keep what the block did."""

    async def rollback(self) -> None:
        """Undo what the block did."""

    async def close(self) -> None:
        """Called after the commit or the rollback, even when it raised."""

    async def __aenter__(self) -> Self:
        await self.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.commit()
            else:
                await self.rollback()
        finally:
            await self.close()
