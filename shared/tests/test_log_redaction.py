"""No email address or phone number ever reaches a log line; routine Kafka retries do not read as errors."""

from __future__ import annotations

import logging

import pytest
from vocation_shared.logs import configure_logging, get_logger, redact

pytestmark = pytest.mark.unit


def test_redact_removes_emails_and_phones() -> None:
    text = "send to lea.martin@example.org or +33612345678 or 06 12 34 56 78, offer vac-0001 at 01053"
    cleaned = redact(text)
    assert "example.org" not in cleaned
    assert "+33612345678" not in cleaned
    assert "06 12 34 56 78" not in cleaned
    assert "vac-0001" in cleaned and "01053" in cleaned


def test_log_lines_never_contain_contact_data(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test", json=True)
    log = get_logger("test")
    log.info(
        "contact.registered",
        email="lea.martin@example.org",
        detail="phone +33612345678",
        event_id="e-1",
    )
    logging.getLogger("plain").warning("failed for lea.martin@example.org")
    err = capsys.readouterr().err
    assert "lea.martin" not in err
    assert "+33612345678" not in err
    assert '"event_id": "e-1"' in err


def test_group_coordinator_not_ready_yet_is_a_warning_not_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("test", json=True)
    logging.getLogger("aiokafka.consumer.group_coordinator").error(
        "Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError"
    )
    logging.getLogger("aiokafka.consumer.group_coordinator").error("Unexpected error in coordinator routine")
    lines = capsys.readouterr().err.splitlines()
    assert '"level": "warning"' in lines[0] and "GroupCoordinatorNotAvailableError" in lines[0]
    assert '"level": "error"' in lines[1]


@pytest.mark.parametrize(
    "address",
    [
        "léa@exemple-école.fr",
        "lea.martin@exemple-école.fr",
        "user@xn--exemple-cole-ieb.fr",
        "LÉA@EXEMPLE-ÉCOLE.FR",
        "иван@пример.рф",
        "ivan@xn--e1afmkfd.xn--p1ai",
        "用户@例子.广告",
        "δοκιμή@παράδειγμα.δοκιμή",
        "o'brien+vocation@straße.de",
    ],
)
def test_redact_removes_internationalised_emails(address: str) -> None:
    cleaned = redact(f"SMTP 550 for <{address}>: mailbox unavailable (vac-0001, 01053)")
    local, _, domain = address.partition("@")
    assert local not in cleaned and domain not in cleaned and "@" not in cleaned
    assert "vac-0001" in cleaned and "01053" in cleaned and "mailbox unavailable" in cleaned


def test_log_lines_never_contain_internationalised_contact_data(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test", json=True)
    get_logger("test").warning(
        "smtp.refused", detail="refused léa@exemple-école.fr and ivan@xn--e1afmkfd.xn--p1ai"
    )
    logging.getLogger("plain").warning("failed for иван@пример.рф")
    err = capsys.readouterr().err
    for fragment in ("exemple-école", "xn--e1afmkfd", "пример", "léa@", "иван"):
        assert fragment not in err and fragment.encode("unicode_escape").decode() not in err
