"""The unit of work's context-manager part, as a Protocol that imports no technology."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self


class Transactional(Protocol):
    """`async with` it: begins on entering; commits when the block ends normally, rolls back when it raises.

    A service's `UnitOfWork` port extends it with the repositories it binds
    (`class UnitOfWork(Transactional, Protocol)`).
    """

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
