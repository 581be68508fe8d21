"""Reading a request's body up to a limit: a larger body is refused as soon as it is seen, never held."""

from __future__ import annotations

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The body is larger than the limit (declared so, or found so while reading)."""


async def read_body(request: Request, limit: int) -> bytes:
    """The body, at most `limit` bytes read: `BodyTooLarge` when it declares or turns out to be more."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
