"""Pages in a real browser for tests: Debian's Chromium driven by Playwright, axe-core, nothing from outside.

Context: the pages people open from a message must work at 360 px, meet RGAA (axe-core finds no
serious or critical violation) and fetch nothing from another host. Playwright's own browser
download is not reachable; Debian's Chromium and the npm registry are.

Decision: `ensure_chromium()` installs Debian's `chromium` with apt-get when `/usr/bin/chromium` is
missing (root, as on every machine of the project), and `ensure_axe()` installs axe-core at a
pinned version from the npm registry into the cache (`npm install --prefix`), checks its digest,
and keeps it there; both run under a file lock, on first use, from the `browser` fixture — a run
that needs no browser never pays for them. `PageChecker.check(url, name)` opens the page at each
width, keeps a full-page screenshot under `artifacts/screenshots/` (gitignored), injects axe from
the local file (never a CDN) and runs it, and aborts and records every request to a host other
than 127.0.0.1. `PageReport.problems()` lists what fails, readably. Playwright's synchronous API
runs in a thread of its own (`BrowserThread`): in the tests' thread it would register its event
loop as running there and break every asyncio test that follows in the session.

Consequence: the first browser test on a fresh machine takes the install's time (measured on this
machine: apt-get update + install ≈ 2 min 20 s, npm ≈ 4 s); later runs start Chromium in ~1 s.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from vocation_local.paths import LOCALHOST, cache_dir

CHROMIUM = Path("/usr/bin/chromium")
AXE_VERSION = "4.14.1"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
"""Digest of `axe.min.js` 4.14.1 as the npm registry serves it: a different file is refused."""
WIDTHS = (360, 1280)
"""A small phone, then a laptop."""
HEIGHT = 800
FAILING_IMPACTS = frozenset({"serious", "critical"})
ARTIFACTS = Path(__file__).resolve().parents[4] / "artifacts" / "screenshots"
INSTALL_TIMEOUT_S = 900
T = TypeVar("T")
APT_COMMANDS = (
    ("apt-get", "update"),
    ("apt-get", "install", "-y", "chromium"),
)


class BrowserSetupError(RuntimeError):
    """Chromium or axe-core could not be installed."""


def _run(command: Sequence[str], what: str) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        result = subprocess.run(
            list(command), capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrowserSetupError(f"{what}: `{' '.join(command)}` failed: {exc}") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-3000:]
        raise BrowserSetupError(f"{what}: `{' '.join(command)}` exited {result.returncode}:\n{output}")


def _locked(name: str) -> Any:
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    lock = (folder / f".{name}.lock").open("w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def ensure_chromium() -> Path:
    """Debian's Chromium, installed with apt-get if missing (needs root, as on the project's machines)."""
    if CHROMIUM.is_file():
        return CHROMIUM
    with _locked("chromium"):
        if CHROMIUM.is_file():
            return CHROMIUM
        if os.geteuid() != 0:
            raise BrowserSetupError(
                f"{CHROMIUM} is missing and only root may install it: "
                + " && ".join(" ".join(c) for c in APT_COMMANDS)
            )
        print("Installing Debian's chromium with apt-get (once per machine)", file=sys.stderr)
        for command in APT_COMMANDS:
            _run(command, "installing chromium")
    if not CHROMIUM.is_file():
        raise BrowserSetupError(f"apt-get installed chromium but {CHROMIUM} is missing")
    return CHROMIUM


def axe_path() -> Path:
    """Where the pinned axe-core lives in the cache."""
    return cache_dir() / f"axe-core-{AXE_VERSION}" / "node_modules" / "axe-core" / "axe.min.js"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_axe() -> Path:
    """axe-core's `axe.min.js` at the pinned version, installed from the npm registry if missing."""
    target = axe_path()
    if target.is_file() and _digest(target) == AXE_SHA256:
        return target
    prefix = target.parents[2]
    with _locked(f"axe-core-{AXE_VERSION}"):
        if target.is_file() and _digest(target) == AXE_SHA256:
            return target
        npm = shutil.which("npm")
        if npm is None:
            raise BrowserSetupError("`npm` is not on PATH: apt-get install -y npm")
        shutil.rmtree(prefix, ignore_errors=True)
        prefix.mkdir(parents=True)
        command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--ignore-scripts"]
        _run([*command, f"axe-core@{AXE_VERSION}"], "installing axe-core")
        if not target.is_file() or _digest(target) != AXE_SHA256:
            shutil.rmtree(prefix, ignore_errors=True)
            raise BrowserSetupError(f"axe-core {AXE_VERSION} from npm is not the file pinned by AXE_SHA256")
    return target


@dataclass(frozen=True, slots=True)
class Violation:
    """One axe rule broken on a page, where, and how badly."""

    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        where = ", ".join(self.targets[:5]) + (" …" if len(self.targets) > 5 else "")
        return f"[{self.impact}] {self.rule}: {self.help} — at {where}"


@dataclass
class PageReport:
    """What a page did at every width: its screenshots, axe violations, and outside requests."""

    url: str
    screenshots: list[Path] = field(default_factory=list)
    violations: dict[int, list[Violation]] = field(default_factory=dict)
    outside_requests: list[str] = field(default_factory=list)
    statuses: dict[int, int | None] = field(default_factory=dict)

    def failing(self) -> list[tuple[int, Violation]]:
        """The serious and critical violations, with the width they were found at."""
        return [(w, v) for w, found in self.violations.items() for v in found if v.impact in FAILING_IMPACTS]

    def problems(self) -> list[str]:
        """Every reason this page fails, one readable line each (empty: the page passes)."""
        lines = [f"{width} px {violation}" for width, violation in self.failing()]
        lines += [f"requested from outside 127.0.0.1: {url}" for url in sorted(set(self.outside_requests))]
        return lines

    def assert_clean(self) -> None:
        """Fail with the list of problems, if any."""
        problems = self.problems()
        assert not problems, f"{self.url}:\n  " + "\n  ".join(problems)


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "about", "blob"):
        return True
    return parts.hostname == LOCALHOST


class BrowserThread:
    """One Chromium driven by Playwright's synchronous API from a thread of its own."""

    def __init__(self, chromium: Path) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
        self._playwright: Any = None
        self.browser: Any = None
        try:
            self.browser = self.run(lambda: self._start(chromium))
        except BaseException:
            self.close()
            raise

    def _start(self, chromium: Path) -> Any:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        return self._playwright.chromium.launch(executable_path=str(chromium))

    def run(self, work: Callable[[], T]) -> T:
        """Run `work` in the browser's thread (every Playwright call must happen there)."""
        return self._pool.submit(work).result()

    def close(self) -> None:
        """Close the browser and stop Playwright, then the thread."""
        try:
            self.run(self._stop)
        finally:
            self._pool.shutdown()

    def _stop(self) -> None:
        try:
            if self.browser is not None:
                self.browser.close()
        finally:
            if self._playwright is not None:
                self._playwright.stop()


class PageChecker:
    """Opens pages in one Chromium, at each width, checking accessibility and outside requests."""

    def __init__(self, browser: BrowserThread, axe_source: str, artifacts: Path = ARTIFACTS) -> None:
        self._thread = browser
        self._axe = axe_source
        self.artifacts = artifacts

    def check(
        self,
        url: str,
        name: str,
        widths: Sequence[int] = WIDTHS,
        act: Callable[[Any], None] | None = None,
    ) -> PageReport:
        """Open `url` at each width (then `act(page)`, e.g. a click): screenshot `<name>-<width>.png`,
        axe on the page as it then is, every request to another host than 127.0.0.1 refused and kept.

        `act` runs in the browser's thread, like every Playwright call."""
        return self._thread.run(lambda: self._check(url, name, widths, act))

    def _check(
        self, url: str, name: str, widths: Sequence[int], act: Callable[[Any], None] | None
    ) -> PageReport:
        report = PageReport(url)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        for width in widths:
            context = self._thread.browser.new_context(
                viewport={"width": width, "height": HEIGHT}, locale="fr-FR", bypass_csp=True
            )
            try:
                context.route("**/*", lambda route: self._guard(route, report))
                page = context.new_page()
                response = page.goto(url, wait_until="load")
                report.statuses[width] = None if response is None else response.status
                if act is not None:
                    act(page)
                    page.wait_for_load_state("load")
                shot = self.artifacts / f"{name}-{width}.png"
                page.screenshot(path=str(shot), full_page=True)
                report.screenshots.append(shot)
                report.violations[width] = self.axe(page)
            finally:
                context.close()
        return report

    def _guard(self, route: Any, report: PageReport) -> None:
        request_url = route.request.url
        if _is_local(request_url):
            route.continue_()
        else:
            report.outside_requests.append(request_url)
            route.abort("blockedbyclient")

    def axe(self, page: Any) -> list[Violation]:
        """Inject axe-core from the local file and run it on the page as it is (WCAG 2.x A and AA)."""
        page.add_script_tag(content=self._axe)
        results = page.evaluate(
            """async () => {
                const r = await axe.run(document, {
                    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
                    resultTypes: ["violations"],
                });
                return r.violations.map(v => ({
                    rule: v.id, impact: v.impact || "minor", help: v.help,
                    targets: v.nodes.map(n => n.target.join(" ")),
                }));
            }"""
        )
        return [
            Violation(str(v["rule"]), str(v["impact"]), str(v["help"]), tuple(str(t) for t in v["targets"]))
            for v in results
        ]


@pytest.fixture(scope="session")
def browser_checker() -> Iterator[PageChecker]:
    """A `PageChecker` on Debian's Chromium with axe-core, both installed on first use."""
    chromium = ensure_chromium()
    axe_source = ensure_axe().read_text(encoding="utf-8")
    browser = BrowserThread(chromium)
    try:
        yield PageChecker(browser, axe_source)
    finally:
        browser.close()


__all__ = [
    "AXE_VERSION",
    "WIDTHS",
    "BrowserSetupError",
    "BrowserThread",
    "PageChecker",
    "PageReport",
    "Violation",
    "browser_checker",
    "ensure_axe",
    "ensure_chromium",
]
