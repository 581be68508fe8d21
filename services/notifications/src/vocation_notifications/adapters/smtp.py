"""Email over SMTP (aiosmtplib) with reused connections; 4xx replies are transient, 5xx permanent."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import uuid
from email.message import EmailMessage as MimeMessage

import aiosmtplib
from vocation_shared.logs import redact

from vocation_notifications.ports import DeliveryError, EmailEvents, EmailMessage, Receipt


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


def render_mime(message: EmailMessage, *, sender: str, domain: str) -> bytes:
    """The wire form of a multipart/alternative message (plain text, then HTML), built directly.

    The standard library's `email` package takes milliseconds per message to fold headers; this
    writes the same structure (UTF-8 bodies in base64, CRLF line ends) in microseconds.
    """
    boundary = f"=_vocation_{uuid.uuid4().hex}"
    headers = {
        "From": sender,
        "To": message.to,
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
    return "\n".join(lines).replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii")


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
        self._envelope_from = email.utils.parseaddr(sender)[1]
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
        """Send one email; raises `DeliveryError` (transient for 4xx and connection trouble)."""
        wire = render_mime(message, sender=self._sender, domain=self._domain)
        async with self._slots:
            for attempt in (1, 2):
                reused = bool(self._idle)
                client = self._idle.pop() if reused else None
                try:
                    if client is None or not client.is_connected:
                        client = await self._connect()
                    await client.sendmail(self._envelope_from, [message.to], wire)
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
