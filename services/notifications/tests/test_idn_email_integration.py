"""Internationalised addresses against a real SMTP server (aiosmtpd on loopback): what it receives."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest
from vocation_notifications.adapters.smtp import SmtpEmailSender
from vocation_notifications.ports import DeliveryError, EmailMessage
from vocation_notifications.testing import Harness, SmtpSink, free_port, match, read_events
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.topics import Topic

pytestmark = pytest.mark.integration

IDN_DOMAIN = "exemple-école.fr"
ACE_DOMAIN = "xn--exemple-cole-ieb.fr"


@contextlib.contextmanager
def _server(*, smtputf8: bool) -> Iterator[tuple[SmtpSink, int]]:
    """aiosmtpd on 127.0.0.1, offering SMTPUTF8 or not."""
    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # it logs every recipient's address
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()


def _message(to: str, n: int = 1) -> EmailMessage:
    return EmailMessage(
        notification_id=f"00000000-0000-0000-0000-00000000000{n}",
        to=to,
        subject="Nouvelle offre pour vous",
        text="Bonjour,",
        html="<p>Bonjour,</p>",
    )


def _sender(port: int) -> SmtpEmailSender:
    return SmtpEmailSender(
        "127.0.0.1",
        port,
        sender="Vocation <notifications@vocation.example.fr>",
        message_id_domain="notifications.vocation.example.fr",
        connections=1,
    )


async def test_an_idn_domain_goes_idna_encoded_and_a_unicode_local_part_uses_smtputf8() -> None:
    with _server(smtputf8=True) as (sink, port):
        sender = _sender(port)
        try:
            await sender.send(_message(f"lea@{IDN_DOMAIN}", 1))
            await sender.send(_message(f"léa@{IDN_DOMAIN}", 2))
            await sender.send(_message(f"user@{ACE_DOMAIN}", 3))  # already punycode: as is
        finally:
            await sender.aclose()
    assert [m.recipients for m in sink.received] == [
        [f"lea@{ACE_DOMAIN}"],
        [f"léa@{ACE_DOMAIN}"],
        [f"user@{ACE_DOMAIN}"],
    ]
    assert [str(m.message["To"]) for m in sink.received] == [
        f"lea@{ACE_DOMAIN}",
        f"léa@{ACE_DOMAIN}",
        f"user@{ACE_DOMAIN}",
    ]
    assert sink.received[1].part("plain").strip() == "Bonjour,"


async def test_a_unicode_local_part_without_smtputf8_fails_for_good_and_the_session_goes_on() -> None:
    with _server(smtputf8=False) as (sink, port):
        sender = _sender(port)
        try:
            with pytest.raises(DeliveryError) as refused:
                await sender.send(_message(f"léa@{IDN_DOMAIN}", 1))
            assert refused.value.permanent and "SMTPUTF8" in str(refused.value)
            assert "léa" not in str(refused.value) and "école" not in str(refused.value)
            await sender.send(_message(f"lea@{IDN_DOMAIN}", 2))  # the same session, still usable
        finally:
            await sender.aclose()
    assert [m.recipients for m in sink.received] == [[f"lea@{ACE_DOMAIN}"]]


async def test_the_service_delivers_to_an_idn_domain_and_a_unicode_local_part(harness: Harness) -> None:
    """The test server offers SMTPUTF8 (aiosmtpd's default): both addresses are delivered."""
    h = harness
    idn, local = h.id("idn"), h.id("local")
    await h.register_contact(idn, email=f"{idn}@{IDN_DOMAIN}", channels=["email"])
    await h.register_contact(local, email=f"é{local}@{IDN_DOMAIN}", channels=["email"])
    await h.publish(match(idn, h.id("vac")), match(local, h.id("vac")))
    await h.wait_rows(idn, 1)
    await h.wait_rows(local, 1)
    await h.drain()

    [mail] = h.sink.to(f"{idn}@{ACE_DOMAIN}")
    assert mail.message["To"] == f"{idn}@{ACE_DOMAIN}"
    [mail] = h.sink.to(f"é{local}@{ACE_DOMAIN}")
    assert mail.message["To"] == f"é{local}@{ACE_DOMAIN}" and "Aide-soignant" in mail.message["Subject"]
    for cand in (idn, local):
        [sent] = await read_events(h.bootstrap, Topic.NOTIFICATIONS, cand, expected=1)
        assert isinstance(sent.data, p.NotificationSent)
