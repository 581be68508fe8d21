"""Real providers on loopback for tests and the benchmark: an SMTP server (aiosmtpd, imported on
use: a development dependency) with a Brevo-shaped activity log, and a Brevo-shaped SMS provider stub."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import itertools
import logging
import re
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage as MimeMessage
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from vocation_shared.testing.asgi import serve_asgi


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ReceivedMail:
    """One message the SMTP server accepted."""

    recipients: list[str]
    message: MimeMessage

    @property
    def message_id(self) -> str:
        """Its Message-ID header."""
        return str(self.message["Message-ID"])

    def part(self, subtype: str) -> str:
        """The text of its text/<subtype> part."""
        for part in self.message.walk():
            if part.get_content_type() == f"text/{subtype}":
                return str(part.get_content())
        raise KeyError(subtype)


@dataclass
class SmtpSink:
    """An in-process SMTP server's handler: keeps what it accepts, can refuse or slow down on demand."""

    received: list[ReceivedMail] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    """Replies to give instead of accepting, first first (e.g. "451 4.3.0 Réessayez")."""
    refusals_for: dict[str, list[str]] = field(default_factory=dict)
    """Replies to give instead of accepting, for messages to one address."""
    delay_s: float = 0.0
    keep_messages: bool = True
    count: int = 0
    accepted_ids: set[str] = field(default_factory=set)
    """The Message-ID of every message accepted (kept even without `keep_messages`): the activity log."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        """Accept (or refuse) one message."""
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        with self._lock:
            targeted = next(
                (self.refusals_for[r] for r in envelope.rcpt_tos if self.refusals_for.get(r)), None
            )
            if targeted:
                return targeted.pop(0)
            if self.refusals:
                return self.refusals.pop(0)
            self.count += 1
            found = _MESSAGE_ID.search(envelope.content)
            if found is not None:
                self.accepted_ids.add(found.group(1).decode("ascii", "replace"))
            if self.keep_messages:
                parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
                assert isinstance(parsed, MimeMessage)
                self.received.append(ReceivedMail(list(envelope.rcpt_tos), parsed))
        return "250 2.0.0 OK: queued"

    def to(self, address: str) -> list[ReceivedMail]:
        """Messages accepted for `address`."""
        return [m for m in self.received if address in m.recipients]


_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)


def email_events_app(sink: SmtpSink, api_key: str = "test-key") -> Starlette:
    """Brevo's transactional email events filtered by `messageId`, answered from what `sink` accepted."""

    async def events(request: Request) -> Response:
        if request.headers.get("api-key") != api_key:
            return JSONResponse({"code": "unauthorized"}, status_code=401)
        wanted = request.query_params.get("messageId", "")
        if wanted not in sink.accepted_ids:
            return JSONResponse({})
        return JSONResponse({"events": [{"messageId": wanted, "event": "requests"}]})

    return Starlette(routes=[Route("/v3/smtp/statistics/events", events, methods=["GET"])])


@contextlib.contextmanager
def smtp_server(sink: SmtpSink | None = None) -> Iterator[tuple[SmtpSink, int]]:
    """A real SMTP server on 127.0.0.1 (its own thread), with `sink` as its handler, and its port."""
    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # it logs every recipient's address
    sink = sink or SmtpSink()
    for attempt in itertools.count(1):
        port = free_port()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        try:
            controller.start()
            break
        except (OSError, RuntimeError):
            if attempt >= 5:
                raise
    try:
        yield sink, port
    finally:
        controller.stop()


@dataclass
class StubSms:
    """One SMS the stub provider accepted."""

    message_id: int
    recipient: str
    content: str
    tag: str
    unicode: bool


@dataclass
class SmsProviderStub:
    """Brevo's transactional SMS API shape: send, and events filtered by tag; can answer errors first."""

    api_key: str = "test-key"
    sent: list[StubSms] = field(default_factory=list)
    failures: list[tuple[int, str | None]] = field(default_factory=list)
    """(status, Retry-After) answers to give before accepting, first first."""
    failures_for: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)
    """The same, for SMS to one number (E.164 with '+')."""
    requests: int = 0
    keep_messages: bool = True
    """False keeps only tags (for the lookup) and the count: for benchmarks."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def app(self) -> Starlette:
        """The ASGI app."""
        return Starlette(
            routes=[
                Route("/v3/transactionalSMS/send", self._send, methods=["POST"]),
                Route("/v3/transactionalSMS/statistics/events", self._events, methods=["GET"]),
            ]
        )

    async def _send(self, request: Request) -> Response:
        self.requests += 1
        if request.headers.get("api-key") != self.api_key:
            return JSONResponse({"code": "unauthorized"}, status_code=401)
        body = await request.json()
        targeted = self.failures_for.get("+" + str(body.get("recipient", "")).lstrip("+"))
        if targeted or self.failures:
            status, retry_after = targeted.pop(0) if targeted else self.failures.pop(0)
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return JSONResponse({"code": "error"}, status_code=status, headers=headers)
        sms = StubSms(
            next(self._ids),
            body["recipient"],
            body["content"],
            str(body.get("tag", "")),
            bool(body.get("unicodeEnabled")),
        )
        self.sent.append(sms if self.keep_messages else StubSms(sms.message_id, "", "", sms.tag, False))
        return JSONResponse(
            {"reference": f"ref-{sms.message_id}", "messageId": sms.message_id, "smsCount": 1},
            status_code=201,
        )

    async def _events(self, request: Request) -> Response:
        tag = request.query_params.get("tags", "")
        events = [
            {"messageId": s.message_id, "event": "sent", "tag": s.tag, "phoneNumber": s.recipient}
            for s in self.sent
            if s.tag == tag
        ]
        return JSONResponse({"events": events})

    def to(self, phone: str) -> list[StubSms]:
        """SMS accepted for `phone` (E.164 with or without '+')."""
        return [s for s in self.sent if s.recipient == phone.lstrip("+")]


@contextlib.asynccontextmanager
async def sms_provider(stub: SmsProviderStub | None = None) -> AsyncIterator[tuple[SmsProviderStub, str]]:
    """The stub served by uvicorn on 127.0.0.1 in this event loop, and its base URL."""
    stub = stub or SmsProviderStub()
    async with serve_asgi(stub.app()) as url:
        yield stub, url
