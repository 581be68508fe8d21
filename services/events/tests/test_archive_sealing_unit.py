"""The archive's sealing rules without I/O: which fields, sealed where they belong, masked, opened."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from vocation_events.core.archive_sealing import MASK, SEALED_FIELDS, ArchiveSeal
from vocation_shared.contracts.events import EVENT_TYPES
from vocation_shared.sealing import ContactCipher, ContactKeyError
from vocation_shared.testing import samples

pytestmark = pytest.mark.unit

K1 = ("k1", b"1" * 32)
K2 = ("k2", b"2" * 32)


def contact(email: str = "lea.martin@example.fr", phone: str = "+33612345678") -> dict[str, Any]:
    data = {
        "candidate_id": "cand-1",
        "first_name": "Léa",
        "email": email,
        "phone": phone,
        "channels": ["email", "sms"],
    }
    return samples.cloud_event("fr.vocation.contact.registered.v1", "cand-1", data, id="reg-1.contact")


def test_every_sealed_path_is_a_field_of_its_event_type() -> None:
    for event_type, paths in SEALED_FIELDS.items():
        for path in paths:
            model: Any = EVENT_TYPES[event_type].model_fields["data"].annotation
            for part in path:
                assert part in model.model_fields, f"{event_type}: {'.'.join(path)}"
                inner = model.model_fields[part].annotation
                model = next(
                    (a for a in getattr(inner, "__args__", (inner,)) if hasattr(a, "model_fields")), inner
                )


def test_names_emails_and_phones_are_sealed_and_open_again() -> None:
    seal = ArchiveSeal(ContactCipher([K1]))
    event = contact()
    original = copy.deepcopy(event)
    seal.seal(event)
    text = orjson.dumps(event).decode()
    for value in ("Léa", "lea.martin@example.fr", "+33612345678"):
        assert value not in text
    assert event["data"]["email"].startswith("enc1:k1:")
    assert event["data"]["channels"] == ["email", "sms"] and event["data"]["candidate_id"] == "cand-1"
    assert seal.opened(event) == original
    assert event["data"]["email"].startswith("enc1:"), "opening returns a copy"


def test_a_sealed_value_moved_to_another_event_or_field_does_not_open() -> None:
    seal = ArchiveSeal(ContactCipher([K1]))
    one, other = contact(), contact()
    other["id"] = "reg-2.contact"
    seal.seal(one)
    seal.seal(other)
    other["data"]["email"] = one["data"]["email"]
    with pytest.raises(ContactKeyError):
        seal.opened(other)
    one["data"]["phone"] = one["data"]["email"]
    with pytest.raises(ContactKeyError):
        seal.opened(one)


def test_values_stored_in_clear_before_read_as_they_are_and_keys_rotate() -> None:
    clear = contact()
    assert ArchiveSeal(ContactCipher([K1])).opened(clear) == clear
    old = contact()
    ArchiveSeal(ContactCipher([K1])).seal(old)
    assert ArchiveSeal(ContactCipher([K2, K1])).opened(old)["data"]["email"] == "lea.martin@example.fr"
    with pytest.raises(ContactKeyError, match="k1"):
        ArchiveSeal(ContactCipher([K2])).opened(old)


def test_without_keys_nothing_is_sealed() -> None:
    event = contact()
    seal = ArchiveSeal(ContactCipher())
    assert not seal.enabled
    seal.seal(event)
    assert event == contact()


def test_the_listing_masks_personal_fields_sealed_or_not() -> None:
    sealed = contact()
    ArchiveSeal(ContactCipher([K1])).seal(sealed)
    for event in (sealed, contact()):
        masked = ArchiveSeal.masked(event)
        assert [masked["data"][f] for f in ("first_name", "email", "phone")] == [MASK] * 3
        assert masked["data"]["candidate_id"] == "cand-1"


def test_tutors_and_free_texts_are_sealed_and_offers_are_not() -> None:
    seal = ArchiveSeal(ContactCipher([K1]))
    slot = samples.cloud_event(
        "fr.vocation.immersion-slot.offered.v1",
        "slot-1",
        {"id": "slot-1", "tutor_name": "Marc Dupont"},
        id="s1",
    )
    seal.seal(slot)
    assert slot["data"]["tutor_name"].startswith("enc1:")
    vacancy = samples.cloud_event(
        "fr.vocation.vacancy.posted.v1", "vac-1", samples.vacancy(id="vac-1"), id="v1"
    )
    before = copy.deepcopy(vacancy)
    seal.seal(vacancy)
    assert vacancy == before
    registration = samples.cloud_event(
        "fr.vocation.candidate.registered.v1",
        "cand-1",
        samples.candidate(id="cand-1", contact={"email": "lea@example.fr", "channels": ["email"]}),
        id="r1",
    )
    seal.seal(registration)
    assert registration["data"]["contact"]["email"].startswith("enc1:")
