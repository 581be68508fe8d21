"""What guards the public endpoints: a bounded body (413), French problem answers (RFC 9457), 429s."""

from __future__ import annotations

from collections.abc import Collection

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from vocation_shared.http import Problem

PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; max-width: 560px; margin: 40px auto; padding: 0 16px;">
<main>
<h1 style="font-size: 22px;">{title}</h1>
{body}
</main>
</body></html>"""


def page(title: str, body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A French HTML page (`body` is trusted HTML, `title` is escaped)."""
    return HTMLResponse(PAGE.format(title=escape(title), body=body), status_code=status, headers=headers)


def problem(
    status: int,
    kind: str,
    title: str,
    detail: str,
    *,
    html: bool = False,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error in French: problem+json (RFC 9457), or the same words as a page for a browser."""
    return shown(Problem(status, kind, title, detail), html=html, headers=headers)


def shown(problem: Problem, *, html: bool, headers: dict[str, str] | None = None) -> Response:
    """A problem as problem+json, or as a French page for a browser."""
    if html:
        return page(problem.title, f"<p>{escape(problem.detail)}</p>", problem.status, headers)
    return problem.response(headers)


def render_problem(request: Request, problem: Problem, headers: dict[str, str] | None) -> Response:
    """How the service answers any error (404, 405, 500…): a page to a browser, problem+json otherwise."""
    return shown(problem, html=wants_html(request.headers.get("accept")), headers=headers)


def wants_html(accept: str | None) -> bool:
    """Whether the client is a browser (asks for HTML) rather than a program."""
    return "text/html" in (accept or "")


def too_large(limit: int, *, html: bool) -> Response:
    """The 413 answer."""
    return problem(
        413,
        "too-large",
        "Requête trop volumineuse",
        f"Le corps de la requête dépasse {limit} octets.",
        html=html,
    )


class BodyLimit:
    """ASGI middleware: on `paths`, read at most `limit` bytes of body, and answer 413 beyond.

    A declared `Content-Length` over the limit is refused before anything is read; a body
    without one (chunked) is read chunk by chunk with a counter and refused as soon as it goes
    over, so a client can never make the service hold more than `limit` bytes of it. The body
    read is then handed to the application, which may read it again freely.
    """

    def __init__(self, app: ASGIApp, *, paths: Collection[str], limit: int) -> None:
        self._app = app
        self._paths = frozenset(paths)
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self._paths:
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        html = wants_html(headers.get(b"accept", b"").decode("latin-1"))
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._limit):
            await too_large(self._limit, html=html)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._limit:
                await too_large(self._limit, html=html)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self._app(scope, replay, send)
