"""Email over SMTP (aiosmtplib) with reused connections; 4xx replies are transient, 5xx permanent.

Internationalised addresses: the domain goes to the envelope and the `To` header IDNA-encoded
(A-labels, `xn--…`, IDNA 2008 with UTS 46 as the contract's validation); a non-ASCII local part
needs SMTPUTF8 (RFC 6531), used when the server offers it and otherwise a permanent failure.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import uuid
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage

import aiosmtplib
import idna
from vocation_shared.logs import redact

from vocation_notifications.ports import DeliveryError, EmailEvents, EmailMessage, Receipt


@dataclass(frozen=True, slots=True)
class Recipient:
    """An address as the SMTP envelope takes it: domain in A-labels, and whether it needs SMTPUTF8."""

    address: str
    smtputf8: bool


def smtp_recipient(address: str) -> Recipient:
    """`address` with its domain IDNA-encoded; raises a permanent `DeliveryError` for a domain IDNA refuses.

    An ASCII address is returned as is (the common case costs nothing).
    """
    if address.isascii():
        return Recipient(address, smtputf8=False)
    local, at, domain = address.rpartition("@")
    if not at or not local:
        raise DeliveryError("invalid email address (no local part or domain)", permanent=True)
    try:
        ascii_domain = domain if domain.isascii() else idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise DeliveryError("email domain cannot be IDNA-encoded", permanent=True) from exc
    return Recipient(f"{local}@{ascii_domain.lower()}", smtputf8=not local.isascii())


def message_id(notification_id: str, domain: str) -> str:
    """The deterministic Message-ID of a notification: a re-send after a crash carries the same one."""
    return f"<{notification_id}@{domain}>"


def _header(value: str) -> str:
    """A header value, RFC 2047-encoded when it is not ASCII (French subjects)."""
    value = " ".join(value.splitlines())  # never a line break in a header (no header injection)
    if value.isascii():
        return value
    # RFC 2047 encoded words (UTF-8, base64) of at most 75 characters, folded; never split a character.
    words, chunk = [], ""
    for char in value:
        if len((chunk + char).encode("utf-8")) > 45:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w.encode('utf-8')).decode('ascii')}?=" for w in words)


def _base64_lines(text: str) -> str:
    return base64.encodebytes(text.encode("utf-8")).decode("ascii").rstrip("\n")


def render_mime(message: EmailMessage, *, sender: str, domain: str, to: str | None = None) -> bytes:
    """The wire form of a multipart/alternative message (plain text, then HTML), built directly.

    The standard library's `email` package takes milliseconds per message to fold headers; this
    writes the same structure (UTF-8 bodies in base64, CRLF line ends) in microseconds. `to` is the
    recipient as sent (`smtp_recipient`); a non-ASCII local part is written in UTF-8 (RFC 6532, only
    sent with SMTPUTF8), everything else is ASCII.
    """
    boundary = f"=_vocation_{uuid.uuid4().hex}"
    headers = {
        "From": sender,
        "To": " ".join((to or message.to).splitlines()),
        "Subject": _header(message.subject),
        "Date": email.utils.formatdate(localtime=False),
        "Message-ID": message_id(message.notification_id, domain),
        "X-Vocation-Notification-Id": message.notification_id,
        "MIME-Version": "1.0",
        **{name: _header(value) for name, value in message.headers.items()},
        "Content-Type": f'multipart/alternative; boundary="{boundary}"',
    }
    lines = [f"{name}: {value}" for name, value in headers.items()]
    lines += [
        "",
        f"--{boundary}",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
        "",
        _base64_lines(message.text),
        f"--{boundary}",
        'Content-Type: text/html; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
        "",
        _base64_lines(message.html),
        f"--{boundary}--",
        "",
    ]
    wire = "\n".join(lines).replace("\r\n", "\n").replace("\n", "\r\n")
    return wire.encode("ascii") if wire.isascii() else wire.encode("utf-8")


def build_mime(message: EmailMessage, *, sender: str, domain: str) -> MimeMessage:
    """The same message as an `email.message.EmailMessage` (slower; for tools and tests)."""
    mime = MimeMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.formatdate(localtime=False)
    mime["Message-ID"] = message_id(message.notification_id, domain)
    mime["X-Vocation-Notification-Id"] = message.notification_id
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text, subtype="plain", charset="utf-8")
    mime.add_alternative(message.html, subtype="html", charset="utf-8")
    return mime


class SmtpEmailSender:
    """Sends through one SMTP server, keeping up to `connections` sessions open for reuse.

    `events`, when the provider keeps a queryable record of what it accepted, answers `lookup`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        message_id_domain: str,
        username: str | None = None,
        password: str | None = None,
        tls: str = "none",
        connections: int = 4,
        timeout_s: float = 30.0,
        events: EmailEvents | None = None,
    ) -> None:
        self._host = host
        self._events = events
        self._port = port
        self._sender = sender
        # An operator's sender on an IDN domain goes IDNA-encoded in the envelope too.
        self._envelope_from = smtp_recipient(email.utils.parseaddr(sender)[1]).address
        self._domain = message_id_domain
        self._username = username
        self._password = password
        self._tls = tls
        self._timeout = timeout_s
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[aiosmtplib.SMTP] = []

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            use_tls=self._tls == "tls",
            start_tls=self._tls == "starttls",
            username=self._username,
            password=self._password,
            timeout=self._timeout,
        )
        await client.connect()
        return client

    async def send(self, message: EmailMessage) -> Receipt:
        """Send one email; raises `DeliveryError` (transient for 4xx and connection trouble).

        A non-ASCII local part asks for SMTPUTF8; a server that does not offer it cannot take the
        address at all: a permanent failure (no retries), said plainly.
        """
        recipient = smtp_recipient(message.to)
        wire = render_mime(message, sender=self._sender, domain=self._domain, to=recipient.address)
        options = ["SMTPUTF8"] if recipient.smtputf8 else None
        async with self._slots:
            for attempt in (1, 2):
                reused = bool(self._idle)
                client = self._idle.pop() if reused else None
                try:
                    if client is None or not client.is_connected:
                        client = await self._connect()
                    await client.sendmail(
                        self._envelope_from, [recipient.address], wire, mail_options=options
                    )
                except aiosmtplib.SMTPServerDisconnected as exc:
                    # A reused session the server closed while idle: once more on a fresh one.
                    if reused and attempt == 1:
                        continue
                    raise DeliveryError(f"SMTP disconnected: {redact(str(exc))}", permanent=False) from exc
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    await _close(client)
                    code = exc.recipients[0].code if exc.recipients else 450
                    raise DeliveryError(f"SMTP recipient refused ({code})", permanent=code >= 500) from exc
                except aiosmtplib.SMTPResponseException as exc:
                    await _close(client)
                    # The server's text often names the recipient ("550 5.1.1 <x@y.fr>: user unknown").
                    text = redact(exc.message)
                    raise DeliveryError(f"SMTP {exc.code}: {text}", permanent=exc.code >= 500) from exc
                except aiosmtplib.SMTPNotSupported as exc:
                    if client is not None:  # nothing was sent on it: the session stays usable
                        self._idle.append(client)
                    raise DeliveryError(
                        "SMTP server does not offer SMTPUTF8: a non-ASCII local part cannot be delivered",
                        permanent=True,
                    ) from exc
                except ValueError as exc:  # an address aiosmtplib cannot write (never retried)
                    await _close(client)
                    raise DeliveryError(
                        f"email address cannot be written in SMTP: {type(exc).__name__}", permanent=True
                    ) from exc
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    await _close(client)
                    raise DeliveryError(f"SMTP unavailable: {type(exc).__name__}", permanent=False) from exc
                self._idle.append(client)
                return Receipt(message_id(message.notification_id, self._domain))
        raise DeliveryError("SMTP disconnected", permanent=False)

    async def lookup(self, notification_id: str) -> Receipt | None:
        """The provider's record of this notification's email (by its Message-ID), if it keeps one.

        Plain SMTP keeps no queryable record: without `events` the answer is always "unknown".
        """
        if self._events is None:
            return None
        return await self._events.lookup(message_id(notification_id, self._domain))

    async def aclose(self) -> None:
        """Quit every idle session, and close the events client."""
        idle, self._idle = self._idle, []
        for client in idle:
            await _close(client)
        if self._events is not None:
            await self._events.aclose()


async def _close(client: aiosmtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        if client.is_connected:
            await asyncio.wait_for(client.quit(), 2)
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()
