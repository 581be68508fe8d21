"""The signed links of the platform's e-mails, read as the demo needs them (which does what, about which offer).

`make run` runs in development mode, on the development link key: the demo verifies the tokens
with it to tell the links apart; it never builds a link itself.
"""

from __future__ import annotations

import re
from typing import Any

from vocation_shared.links import DEVELOPMENT_LINK_KEY, Action, Link, LinkSigner

_LINK = re.compile(r"https?://[^\s/]+/l/[A-Za-z0-9_-]+")
_SIGNER = LinkSigner([DEVELOPMENT_LINK_KEY])


def signed_links(mail: dict[str, Any]) -> list[tuple[str, Link]]:
    """Every genuine signed link of an e-mail's text, with what its token says."""
    found = []
    for url in _LINK.findall(str(mail.get("text", ""))):
        checked = _SIGNER.verify(url.rsplit("/", 1)[1])
        if checked.link is not None:
            found.append((url, checked.link))
    return found


def links_of(mail: dict[str, Any]) -> dict[Action, str]:
    """The signed links of an e-mail, by what they do (the first of each action)."""
    by_action: dict[Action, str] = {}
    for url, link in signed_links(mail):
        by_action.setdefault(link.action, url)
    return by_action


def about(mail: dict[str, Any], offer_id: str) -> bool:
    """Whether an e-mail's signed links are about this offer."""
    return any(link.target_id == offer_id for _, link in signed_links(mail))
