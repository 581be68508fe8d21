"""The browser harness fails a page with a serious accessibility violation or an outside request."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from vocation_local import browser
from vocation_local.browser import WIDTHS, PageChecker

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]  # the first run may install Chromium

_HEAD = '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Essai</title></head>'
PAGES = {
    "/propre": _HEAD + "<body><main><h1>Bonjour</h1><p>Une page sans défaut.</p></main></body></html>",
    # A button without a name (critical) and an image without a text alternative (critical).
    "/inaccessible": _HEAD
    + '<body><main><h1>Essai</h1><button></button><img src="/pixel.png"></main></body></html>',
    "/dehors": _HEAD
    + '<body><main><h1>Essai</h1><img alt="logo" src="https://cdn.example.org/logo.png"></main></body></html>',
}


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path, "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration
def test_a_clean_page_passes_and_is_kept_at_every_width(browser_checker: PageChecker, site: str) -> None:
    report = browser_checker.check(f"{site}/propre", "harness-clean")
    report.assert_clean()
    assert [shot.name for shot in report.screenshots] == [f"harness-clean-{w}.png" for w in WIDTHS]
    assert all(shot.stat().st_size > 1000 for shot in report.screenshots)
    assert report.statuses == dict.fromkeys(WIDTHS, 200)


@pytest.mark.integration
def test_a_serious_violation_fails_the_page_with_a_readable_line(
    browser_checker: PageChecker, site: str
) -> None:
    report = browser_checker.check(f"{site}/inaccessible", "harness-violation", widths=(360,))
    problems = report.problems()
    assert any(line.startswith("360 px [critical] button-name:") for line in problems), problems
    assert any("image-alt" in line and "img" in line for line in problems), problems
    with pytest.raises(AssertionError, match="button-name"):
        report.assert_clean()


@pytest.mark.integration
def test_a_request_to_another_host_is_refused_and_fails_the_page(
    browser_checker: PageChecker, site: str
) -> None:
    report = browser_checker.check(f"{site}/dehors", "harness-outside", widths=(360,))
    assert report.outside_requests == ["https://cdn.example.org/logo.png"]
    assert report.problems() == ["requested from outside 127.0.0.1: https://cdn.example.org/logo.png"]
    with pytest.raises(AssertionError, match=r"cdn\.example\.org"):
        report.assert_clean()


@pytest.mark.unit
def test_chromium_is_installed_by_the_commands_when_missing_and_a_failure_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VOCATION_CACHE_DIR", str(tmp_path / "cache"))
    target = tmp_path / "chromium"
    monkeypatch.setattr(browser, "CHROMIUM", target)
    monkeypatch.setattr(browser, "APT_COMMANDS", (("touch", str(target)),))
    assert browser.ensure_chromium() == target
    target.unlink()
    monkeypatch.setattr(browser, "APT_COMMANDS", (("sh", "-c", "echo no mirror >&2; exit 100"),))
    with pytest.raises(browser.BrowserSetupError, match="exited 100:\nno mirror"):
        browser.ensure_chromium()


@pytest.mark.unit
def test_an_axe_core_file_other_than_the_pinned_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VOCATION_CACHE_DIR", str(tmp_path))
    target = browser.axe_path()
    fake_npm = tmp_path / "bin" / "npm"
    fake_npm.parent.mkdir()
    # A registry that serves another file under the pinned version.
    fake_npm.write_text(f"#!/bin/sh\nmkdir -p {target.parent}\necho 'window.axe = {{}};' > {target}\n")
    fake_npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_npm.parent}:{os.environ['PATH']}")
    with pytest.raises(browser.BrowserSetupError, match="not the file pinned"):
        browser.ensure_axe()
    assert not target.exists()


@pytest.mark.integration
async def test_asyncio_tests_still_run_while_the_browser_is_open(
    browser_checker: PageChecker, site: str
) -> None:
    await asyncio.sleep(0)  # pytest-asyncio's runner: refused if Playwright's loop ran in this thread
    report = await asyncio.to_thread(browser_checker.check, f"{site}/propre", "harness-from-async", (360,))
    report.assert_clean()
