"""The demo's second act, from match to hire: Léa says yes, the EHPAD answers and hires; Inès says no.

The demo clicks the very links of the e-mails that arrived, as a person would: it opens each page
(a GET, which changes nothing) and confirms its form (the POST, which acts). It prints every link
it clicks, so that a newcomer can open them in a browser too (`demo.links` tells them apart).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from vocation_shared.links import Action

from vocation_local.demo.links import about, links_of
from vocation_local.demo.narrator import Narrator
from vocation_local.demo.outbox import Outbox
from vocation_local.demo.scenario import Scenario

_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


class LoopStopped(Exception):
    """Something the loop waits for did not come (the message says what)."""


def _wait_mail(
    outbox: Outbox, address: str, wanted: Callable[[dict[str, Any]], bool], what: str, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in outbox.emails() if address in m["to"] and wanted(m)]
        if found:
            return found[-1]
        time.sleep(0.5)
    raise LoopStopped(f"{what} did not arrive within {timeout:.0f} s")


def _click(client: httpx.Client, url: str, narrator: Narrator, form: dict[str, str] | None = None) -> None:
    """Open the page of a link, then confirm it (the page's form), as a person does."""
    narrator.item(f"opens {url}")
    page = client.get(url, timeout=30)
    if page.status_code != 200:
        raise LoopStopped(f"the page {url} answered {page.status_code}")
    answer = client.post(url, data=form or {}, timeout=30)
    if answer.status_code != 200:
        raise LoopStopped(f"confirming {url} answered {answer.status_code}")
    narrator.item("confirms on the page: done")


def _offer_mail(
    outbox: Outbox, address: str, offer_id: str, action: Action, what: str, timeout: float
) -> dict[str, Any]:
    """The match e-mail to `address` about `offer_id` that carries an `action` link."""
    return _wait_mail(outbox, address, lambda m: about(m, offer_id) and action in links_of(m), what, timeout)


def play_loop(s: Scenario, outbox: Outbox, client: httpx.Client, narrator: Narrator, timeout: float) -> bool:
    """Léa applies, the EHPAD proposes an exchange then hires her; Inès declines hers as too far."""
    lea, ines = s.people["martin"], s.people["lafitte"]
    night, apprenticeship = s.vacancies["as-nuit"], s.vacancies["as-apprenti"]
    try:
        narrator.step("Léa answers her e-mail: « Je suis intéressé(e) »")
        match = _offer_mail(
            outbox, lea.email, night["id"], Action.INTERESTED, "Léa's e-mail about the night post", timeout
        )
        links = links_of(match)
        narrator.say(f"Her personal offer page: {links.get(Action.VIEW_OFFER, '(none in the e-mail)')}")
        form = {
            "message": "Je travaille de nuit depuis deux ans et je peux commencer en janvier.",
            "partager_email": "oui",
        }
        _click(client, links[Action.INTERESTED], narrator, form)
        narrator.expect(
            "the catalogue records her application (application.submitted); the EHPAD's recruiter, "
            "Claire Vidal, gets one e-mail: Léa's diplomas, experience, distance, the match's reasons, "
            "her message and her e-mail address (she chose to share it, not her phone)."
        )
        narrator.wait()

        narrator.step("The EHPAD's recruiter answers in one click: « Proposer un échange »")
        employer = _wait_mail(
            outbox,
            s.recruiter_email,
            lambda m: Action.PROPOSE_EXCHANGE in links_of(m),
            "the recruiter's e-mail about Léa",
            timeout,
        )
        answers = links_of(employer)
        narrator.say(f"What Claire Vidal reads, « {employer['subject']} »:")
        for line in str(employer["text"]).split("\n--\n")[0].strip().splitlines():
            narrator.say(f"  | {_ADDRESS.sub('‹son adresse›', line)}")  # addresses stay in the mailbox
        _click(client, answers[Action.PROPOSE_EXCHANGE], narrator)
        narrator.expect("Léa is told, in French, with Claire Vidal's contact to arrange the exchange.")
        _wait_mail(
            outbox,
            lea.email,
            lambda m: s.recruiter_email in m["text"],
            "Léa's e-mail with the contact",
            timeout,
        )
        narrator.say("Léa received the recruiter's contact.")
        narrator.wait()

        narrator.step("After the exchange, the recruiter clicks « Embauché(e) »")
        _click(client, answers[Action.HIRED], narrator)
        narrator.expect(
            "the night post had one place: it is filled, leaves the search, the other candidates' "
            "matches are withdrawn; Léa is congratulated; the observatory counts one hire."
        )
        narrator.wait()

        narrator.step("Inès answers hers: « Pas pour moi » — trop loin")
        mail = _offer_mail(
            outbox,
            ines.email,
            apprenticeship["id"],
            Action.NOT_FOR_ME,
            "Inès's e-mail about the apprenticeship",
            timeout,
        )
        _click(client, links_of(mail)[Action.NOT_FOR_ME], narrator, {"raison": "too_far"})
        narrator.expect(
            "matching will not propose this offer to her again, and narrows her radius below its "
            "distance until she changes her profile: farther offers stay away, nearer ones come."
        )
        narrator.wait()
    except (LoopStopped, KeyError) as exc:
        narrator.say(f"(the loop stopped: {exc})")
        return False
    return True
