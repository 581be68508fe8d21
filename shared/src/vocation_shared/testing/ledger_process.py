"""Runs the test ledger consumer in its own process (for the SIGKILL test)."""

from __future__ import annotations

import asyncio
import sys

from vocation_shared.testing.ledger import running_ledger


async def main(bootstrap: str, dsn: str, group_id: str, kill_after: str) -> None:
    async with running_ledger(bootstrap, dsn, group_id, kill_after_effect_of=kill_after):
        await asyncio.sleep(120)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
