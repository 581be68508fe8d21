"""What the demo shows of the mailbox and the SMS sink as the platform's messages arrive."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from vocation_local.demo.gateway import PARIS
from vocation_local.demo.links import signed_links
from vocation_local.demo.narrator import Narrator
from vocation_local.demo.scenario import Expectation, Scenario
from vocation_local.inbox import mailbox_messages, sink_sms


@dataclass
class Outbox:
    """What arrived since the demo started: e-mails in the mailbox, SMS in the sink file."""

    client: httpx.Client
    mailbox_url: str | None
    sms_file: Path | None
    started_at: datetime
    sms_offset: int = 0

    def emails(self) -> list[dict[str, Any]]:
        if self.mailbox_url is None:
            return []
        try:
            messages = mailbox_messages(self.mailbox_url, self.client)
        except (httpx.HTTPError, ValueError):
            return []
        return [m for m in messages if datetime.fromisoformat(str(m["received_at"])) >= self.started_at]

    def sms(self) -> list[dict[str, Any]]:
        return [] if self.sms_file is None else sink_sms(self.sms_file, self.sms_offset)

    def met(self, expectation: Expectation) -> bool:
        if expectation.channel == "email":
            return any(
                expectation.address in m["to"] and expectation.contains in m["subject"] + m["text"]
                for m in self.emails()
            )
        return any(
            s.get("to") == expectation.address and expectation.contains in str(s.get("text", ""))
            for s in self.sms()
        )


def within_default_sms_window(now: datetime) -> bool:
    """Whether `now` is inside the notifications service's default SMS hours (08:00–21:30 in Paris)."""
    local = now.astimezone(PARIS).time()
    return (8, 0) <= (local.hour, local.minute) < (21, 30)


@dataclass
class Shown:
    """What the terminal already showed of the mailbox and the SMS sink."""

    mails: set[str] = field(default_factory=set)
    sms: int = 0


def watch(
    outbox: Outbox,
    wanted: list[Expectation],
    s: Scenario,
    timeout: float,
    narrator: Narrator,
    shown: Shown,
) -> bool:
    """Show what arrives until everything expected did, or `timeout`; whether it all arrived."""
    names = {p.email: p.first_name for p in s.people.values()}
    names |= {p.phone: p.first_name for p in s.people.values() if p.phone}
    names[s.tutor_email] = "the IME's tutor"
    deadline = time.monotonic() + timeout
    while True:
        for mail in outbox.emails():
            ident = str(mail.get("message_id") or mail["number"])
            recipients = [names[a] for a in mail["to"] if a in names]
            if ident in shown.mails or not recipients:
                continue
            shown.mails.add(ident)
            narrator.say(f"e-mail to {', '.join(recipients):<16} « {mail['subject']} »")
        texts = [m for m in outbox.sms() if m.get("to") in names]
        for text in texts[shown.sms :]:
            narrator.say(f"SMS    to {names[str(text['to'])]:<16} « {text.get('text', '')} »")
        shown.sms = len(texts)
        missing = [e for e in wanted if not outbox.met(e)]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if missing:
        narrator.say("")
        narrator.say("Not arrived (yet):")
        for e in missing:
            narrator.item(f"{e.channel} to {e.who}: {e.what}")
    return not missing


def show_reasons(outbox: Outbox, address: str, run: str, narrator: Narrator) -> None:
    """Print, in full, one offer e-mail of this run with its reasons."""
    for mail in outbox.emails():
        if (
            address in mail["to"]
            and "Pourquoi nous vous la proposons" in mail["text"]
            and any(link.target_id.startswith(run) for _, link in signed_links(mail))
        ):
            narrator.say("")
            narrator.say("One of them, in full (what Léa reads):")
            for line in mail["text"].split("\n--\n")[0].strip().splitlines():
                narrator.say(f"  | {line}")
            return
