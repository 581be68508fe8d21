"""A development mailbox: a real SMTP server on 127.0.0.1, a page to read what arrived, and its activity log.

The activity log answers in the shape of Brevo's `GET /v3/smtp/statistics/events?messageId=…`, so the
notifications service can ask it, as it would ask its email provider, whether an email it sent just
before a crash was accepted.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route


@dataclass
class Mailbox:
    """Every message the SMTP server accepted, in arrival order; also written as .eml files."""

    folder: Path | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    by_message_id: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, envelope_from: str, recipients: list[str], raw: bytes) -> dict[str, Any]:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        text = parsed.get_body(("plain",))
        rich = parsed.get_body(("html",))
        with self.lock:
            number = len(self.messages) + 1
            entry = {
                "number": number,
                "received_at": datetime.now(UTC).isoformat(),
                "envelope_from": envelope_from,
                "to": recipients,
                "subject": str(parsed.get("Subject", "")),
                "message_id": str(parsed.get("Message-ID", "")),
                "headers": {k: str(v) for k, v in parsed.items()},
                "text": text.get_content() if text is not None else "",
                "html": rich.get_content() if rich is not None else "",
            }
            self.messages.append(entry)
            self.by_message_id.setdefault(str(entry["message_id"]), []).append(entry)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{number:06d}.eml").write_bytes(raw)
        return entry


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        self.mailbox.add(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], content)
        return "250 Message accepted for delivery"


def web_app(mailbox: Mailbox) -> Starlette:
    """The mailbox page (`/`), one message (`/messages/N`, `/messages/N/html`), a JSON API, the activity log."""

    async def index(_: Request) -> HTMLResponse:
        rows = "".join(
            f"<tr><td>{m['number']}</td><td>{html.escape(m['received_at'][11:19])}</td>"
            f"<td>{html.escape(', '.join(m['to']))}</td>"
            f"<td><a href='/messages/{m['number']}'>{html.escape(m['subject'])}</a></td></tr>"
            for m in reversed(mailbox.messages)
        )
        return HTMLResponse(
            "<!doctype html><html lang='fr'><head><meta charset='utf-8'><meta http-equiv='refresh' content='3'>"
            "<title>Vocation — boîte de réception de développement</title></head><body>"
            f"<h1>Courriels reçus ({len(mailbox.messages)})</h1>"
            "<table border='1' cellpadding='4'><tr><th>#</th><th>heure (UTC)</th><th>à</th><th>objet</th></tr>"
            f"{rows}</table></body></html>"
        )

    async def show(request: Request) -> Response:
        entry = _entry(mailbox, request)
        if entry is None:
            return HTMLResponse("message inconnu", status_code=404)
        return HTMLResponse(
            "<!doctype html><html lang='fr'><head><meta charset='utf-8'></head><body>"
            f"<p><a href='/'>← retour</a></p><h1>{html.escape(entry['subject'])}</h1>"
            f"<p>À : {html.escape(', '.join(entry['to']))}</p>"
            f"<h2>Texte</h2><pre>{html.escape(entry['text'])}</pre>"
            f"<h2>HTML</h2><iframe sandbox src='/messages/{entry['number']}/html' width='100%' height='600'></iframe>"
            "</body></html>"
        )

    async def show_html(request: Request) -> Response:
        entry = _entry(mailbox, request)
        if entry is None:
            return HTMLResponse("message inconnu", status_code=404)
        return HTMLResponse(entry["html"])

    async def api(request: Request) -> JSONResponse:
        # `?after=N&limit=M`: the messages numbered after N, at most M (for readers of long runs).
        try:
            after = max(int(request.query_params.get("after", "0")), 0)
            limit = int(request.query_params["limit"]) if "limit" in request.query_params else None
        except ValueError:
            return JSONResponse({"error": "after and limit must be integers"}, status_code=400)
        with mailbox.lock:
            page = (
                mailbox.messages[after:] if limit is None else mailbox.messages[after : after + max(limit, 0)]
            )
        return JSONResponse(page)

    async def clear(_: Request) -> JSONResponse:
        with mailbox.lock:
            mailbox.messages.clear()
            mailbox.by_message_id.clear()
        return JSONResponse({"cleared": True})

    async def events(request: Request) -> JSONResponse:
        # Brevo's transactional email events, filtered by Message-ID: one "requests" event per accepted copy.
        wanted = request.query_params.get("messageId")
        if not wanted:
            return JSONResponse({"code": "missing_parameter", "message": "messageId is required here"}, 400)
        with mailbox.lock:
            found = list(mailbox.by_message_id.get(wanted, ()))
        if not found:
            return JSONResponse({})
        return JSONResponse(
            {
                "events": [
                    {
                        "email": ", ".join(m["to"]),
                        "date": m["received_at"],
                        "messageId": m["message_id"],
                        "event": "requests",
                        "subject": m["subject"],
                        "from": m["envelope_from"],
                    }
                    for m in found
                ]
            }
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/messages/{number:int}", show),
            Route("/messages/{number:int}/html", show_html),
            Route("/api/messages", api, methods=["GET"]),
            Route("/api/messages", clear, methods=["DELETE"]),
            Route("/v3/smtp/statistics/events", events, methods=["GET"]),
        ]
    )


def _entry(mailbox: Mailbox, request: Request) -> dict[str, Any] | None:
    number = int(request.path_params["number"])
    return mailbox.messages[number - 1] if 0 < number <= len(mailbox.messages) else None


async def serve(smtp_port: int, http_port: int, folder: Path | None) -> None:
    """Run the SMTP server (in its thread) and the web page until cancelled."""
    mailbox = Mailbox(folder)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every recipient's address
    controller = Controller(_Handler(mailbox), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        config = uvicorn.Config(web_app(mailbox), host="127.0.0.1", port=http_port, log_level="warning")
        await uvicorn.Server(config).serve()
    finally:
        controller.stop()


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def mailbox(
    smtp_port: Annotated[int, typer.Option(help="the SMTP server's port on 127.0.0.1")] = 1025,
    http_port: Annotated[int, typer.Option(help="the web page's and the JSON API's port")] = 8025,
    folder: Annotated[Path | None, typer.Option("--dir", help="also keep every message as .eml here")] = None,
) -> None:
    """Run the development mailbox until stopped; print its addresses as JSON first."""
    typer.echo(json.dumps({"smtp": f"127.0.0.1:{smtp_port}", "web": f"http://127.0.0.1:{http_port}"}))
    asyncio.run(serve(smtp_port, http_port, folder))


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m vocation_local.mailbox --smtp-port 1025 --http-port 8025 [--dir DIR]`."""
    app(args=list(argv) if argv is not None else None, prog_name="vocation-mailbox")


if __name__ == "__main__":
    main()
