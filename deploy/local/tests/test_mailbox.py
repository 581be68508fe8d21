"""The development mailbox accepts real SMTP and shows what arrived."""

from __future__ import annotations

import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest
from vocation_local.paths import free_port, port_accepts

pytestmark = pytest.mark.integration


@pytest.fixture
def mailbox() -> Iterator[tuple[int, int]]:
    smtp_port, http_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vocation_local.mailbox",
            "--smtp-port",
            str(smtp_port),
            "--http-port",
            str(http_port),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not (port_accepts(smtp_port) and port_accepts(http_port)):
            assert process.poll() is None, "the mailbox exited"
            assert time.monotonic() < deadline, "the mailbox did not start"
            time.sleep(0.1)
        yield smtp_port, http_port
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_an_email_sent_over_smtp_shows_in_the_mailbox(mailbox: tuple[int, int]) -> None:
    smtp_port, http_port = mailbox
    message = EmailMessage()
    message["From"] = "Vocation <ne-pas-repondre@vocation.example>"
    message["To"] = "lea@example.org"
    message["Subject"] = "Une offre d'aide-soignant à 12 km"
    message.set_content("Bonjour Léa, une offre vous attend.")
    message.add_alternative("<p>Bonjour <b>Léa</b></p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.send_message(message)
    received = httpx.get(f"http://127.0.0.1:{http_port}/api/messages").json()
    assert [m["subject"] for m in received] == ["Une offre d'aide-soignant à 12 km"]
    assert received[0]["to"] == ["lea@example.org"]
    assert "Bonjour Léa" in received[0]["text"]
    page = httpx.get(f"http://127.0.0.1:{http_port}/").text
    assert "Une offre d&#x27;aide-soignant à 12 km" in page or "Une offre d'aide-soignant" in page
    assert "<b>Léa</b>" in httpx.get(f"http://127.0.0.1:{http_port}/messages/1/html").text


def test_the_activity_log_answers_by_message_id_as_brevo_does(mailbox: tuple[int, int]) -> None:
    smtp_port, http_port = mailbox
    message = EmailMessage()
    message["From"] = "Vocation <ne-pas-repondre@vocation.example>"
    message["To"] = "lea@example.org"
    message["Subject"] = "Immersion confirmée"
    message["Message-ID"] = "<n-42@notifications.vocation.test>"
    message.set_content("Bonjour, votre immersion est confirmée.")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.send_message(message)
    events = f"http://127.0.0.1:{http_port}/v3/smtp/statistics/events"
    known = httpx.get(events, params={"messageId": "<n-42@notifications.vocation.test>"}).json()
    assert [(e["messageId"], e["event"], e["email"]) for e in known["events"]] == [
        ("<n-42@notifications.vocation.test>", "requests", "lea@example.org")
    ]
    assert httpx.get(events, params={"messageId": "<n-43@notifications.vocation.test>"}).json() == {}
    assert httpx.get(events).status_code == 400
