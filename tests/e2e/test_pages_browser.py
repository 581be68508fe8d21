"""Pages people open, in a real browser: a running service's pages at 360 and 1280 px, axe, nothing from outside."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from vocation_local.aio import run_sync
from vocation_local.browser import PageChecker
from vocation_local.e2e import Platform
from vocation_local.paths import free_port
from vocation_local.pg_admin import create_database
from vocation_notifications.core.tokens import sign_unsubscribe
from vocation_shared.contracts.vocabulary import Channel

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.timeout(900),
]  # the first run may install Chromium

SIGNING_SECRET = "browser-tests-signing-secret-0123456789-abcdefghij"


@pytest.fixture(scope="module")
def notifications(
    kafka_bootstrap: str, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The notifications service as its own process (its worker off: it sends nothing); its URL."""
    log_dir: Path = tmp_path_factory.mktemp("pages-browser")
    url = f"http://127.0.0.1:{free_port()}"
    platform = Platform(
        kafka_bootstrap=kafka_bootstrap,
        databases={"notifications": run_sync(create_database(postgres_url, f"pages_{uuid.uuid4().hex[:8]}"))},
        urls={"notifications": url},
        mailbox_url="http://127.0.0.1:9",
        smtp_port=free_port(),
        log_dir=log_dir,
    )
    platform.environments["notifications"] = platform.service_environment(
        "notifications",
        VOCATION_SIGNING_SECRET=SIGNING_SECRET,
        VOCATION_WORKER_ENABLED="false",
        VOCATION_CONSUMER_GROUP=f"pages-browser-{uuid.uuid4().hex[:8]}",
    )
    platform.start("notifications")
    try:
        platform.wait_ready("notifications")
        yield url
    finally:
        platform.shutdown()


def _unsubscribe_url(base: str) -> str:
    token = sign_unsubscribe(SIGNING_SECRET, f"cand-browser-{uuid.uuid4().hex[:8]}", Channel.EMAIL)
    return f"{base}/desinscription?token={token}"


def _confirm(page: Any) -> None:
    page.get_by_role("button", name="Confirmer ma désinscription").click()
    page.get_by_role("heading", name="Vous êtes désinscrit(e)").wait_for(timeout=10_000)


def test_the_unsubscribe_page_and_its_confirmation(browser_checker: PageChecker, notifications: str) -> None:
    page = browser_checker.check(_unsubscribe_url(notifications), "desinscription")
    done = browser_checker.check(_unsubscribe_url(notifications), "desinscription-confirmee", act=_confirm)
    assert page.statuses == {360: 200, 1280: 200}
    page.assert_clean()
    done.assert_clean()


def test_the_invalid_link_page(browser_checker: PageChecker, notifications: str) -> None:
    report = browser_checker.check(
        f"{notifications}/desinscription?token=forged", "desinscription-lien-invalide"
    )
    assert report.statuses == {360: 400, 1280: 400}
    report.assert_clean()


def _ask_for_a_fresh_link(page: Any) -> None:
    """Post an expired-looking token to `/liens/nouveau`, as the catalogue's 410 page's form does."""
    page.evaluate(
        """() => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/liens/nouveau";
            const token = document.createElement("input");
            token.type = "hidden"; token.name = "token"; token.value = "expired-or-not";
            form.appendChild(token);
            document.body.appendChild(form);
            form.submit();
        }"""
    )
    page.wait_for_url("**/liens/nouveau", timeout=10_000)


def test_the_fresh_link_answer_page(browser_checker: PageChecker, notifications: str) -> None:
    report = browser_checker.check(
        f"{notifications}/desinscription?token=forged", "nouveau-lien-demande", act=_ask_for_a_fresh_link
    )
    report.assert_clean()
