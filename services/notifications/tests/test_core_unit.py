"""The pure rules: windows, digest and reminder times, SMS sizing, tokens, backoff, decisions, planning."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vocation_notifications.core.consent import (
    ConsentMark,
    Suppression,
    is_stop_reply,
    mark_of,
    merge_marks,
    reachable_channels,
    should_apply,
    without_channel,
)
from vocation_notifications.core.decisions import Action, decide
from vocation_notifications.core.digest import HeldRow, build_digests
from vocation_notifications.core.model import Contact, DueItem, RecipientKind
from vocation_notifications.core.planning import plan_booking, plan_match
from vocation_notifications.core.policy import Policy
from vocation_notifications.core.schedule import local_day_bounds, next_digest_at, reminder_at
from vocation_notifications.core.sms import SmsEncoding, fit, size_of, to_gsm7_friendly
from vocation_notifications.core.tokens import (
    BadToken,
    read_unsubscribe,
    sign_unsubscribe,
    sign_unsubscribe_link,
    verify_unsubscribe,
)
from vocation_notifications.core.windows import DailyWindow
from vocation_shared.contracts import payloads as p
from vocation_shared.contracts.vocabulary import (
    Channel,
    ConsentOrigin,
    DigestMode,
    NotificationPurpose,
    SuppressionReason,
)
from vocation_shared.links import DEVELOPMENT_LINK_KEY, LinkSigner
from vocation_shared.links import Action as LinkAction

pytestmark = pytest.mark.unit

POLICY = Policy()
NOON = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)  # 12:00 in Paris


def _contact(**kw: object) -> Contact:
    values: dict[str, object] = {
        "candidate_id": "c1",
        "email": "c1@exemple.fr",
        "phone": "+33612345678",
        "channels": frozenset({Channel.EMAIL, Channel.SMS}),
    }
    values.update(kw)
    return Contact(**values)  # type: ignore[arg-type]


def _item(
    channel: Channel = Channel.SMS, purpose: NotificationPurpose = NotificationPurpose.MATCH
) -> DueItem:
    return DueItem(RecipientKind.CANDIDATE, channel, purpose, NOON)


# --- windows and local times --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        (datetime(2026, 11, 22, 6, 59, tzinfo=UTC), False),  # 07:59 Paris (winter, UTC+1)
        (datetime(2026, 11, 22, 7, 0, tzinfo=UTC), True),
        (datetime(2026, 11, 22, 20, 29, tzinfo=UTC), True),
        (datetime(2026, 11, 22, 20, 30, tzinfo=UTC), False),  # 21:30 Paris
        (datetime(2026, 7, 1, 6, 0, tzinfo=UTC), True),  # 08:00 Paris in summer (UTC+2)
    ],
)
def test_sms_window_is_in_paris_time_across_seasons(utc: datetime, inside: bool) -> None:
    assert POLICY.sms_window.contains(utc) is inside


def test_outside_the_window_the_next_opening_is_the_same_morning_or_the_next() -> None:
    window = POLICY.sms_window
    early = datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    late = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)
    assert window.next_opening(early) == datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
    assert window.next_opening(late) == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert window.next_opening(NOON) == NOON
    # The night before the change to summer time: opens at 08:00 UTC+2.
    assert window.next_opening(datetime(2026, 3, 28, 22, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 6, 0, tzinfo=UTC
    )


def test_overnight_and_always_open_windows() -> None:
    night = DailyWindow(time(22, 0), time(6, 0))
    assert night.contains(datetime(2026, 11, 22, 23, 0, tzinfo=UTC))
    assert not night.contains(NOON)
    assert DailyWindow(time(0, 0), time(0, 0)).contains(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))


def test_digest_and_reminder_times_are_local() -> None:
    assert next_digest_at(NOON, time(18, 0)) == datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
    assert next_digest_at(datetime(2026, 11, 22, 17, 0, tzinfo=UTC), time(18, 0)) == datetime(
        2026, 11, 23, 17, 0, tzinfo=UTC
    )
    assert reminder_at(date(2026, 11, 25), time(10, 0)) == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    start, end = local_day_bounds(datetime(2026, 11, 22, 23, 30, tzinfo=UTC))  # 00:30 on the 23rd in Paris
    assert (start, end) == (
        datetime(2026, 11, 22, 23, 0, tzinfo=UTC),
        datetime(2026, 11, 23, 23, 0, tzinfo=UTC),
    )


# --- SMS -----------------------------------------------------------------------------------------


def test_gsm7_counts_extension_characters_twice_and_splits_at_153() -> None:
    assert size_of("a" * 160) == size_of("a" * 160).__class__(SmsEncoding.GSM7, 160, 1)
    assert size_of("a" * 161).segments == 2
    assert size_of("a" * 306).segments == 2 and size_of("a" * 307).segments == 3
    assert size_of("€" * 80).units == 160 and size_of("€" * 81).segments == 2
    assert size_of("é à ù è").encoding is SmsEncoding.GSM7


def test_characters_outside_gsm7_switch_to_ucs2_with_70_and_67() -> None:
    assert size_of("Ж" * 70).segments == 1 and size_of("Ж" * 70).encoding is SmsEncoding.UCS2
    assert size_of("Ж" * 71).segments == 2 and size_of("Ж" * 135).segments == 3


def test_french_text_is_transliterated_to_stay_in_gsm7() -> None:
    text = to_gsm7_friendly("Être aide-soignant·e ? « Oui » — c’est sûr…")
    assert size_of(to_gsm7_friendly("Être aide-soignant, c’est sûr… « oui » ")).encoding is SmsEncoding.GSM7
    assert text.startswith("Etre aide-soignant") and '"Oui"' in text and "c'est sur..." in text


def test_long_sms_body_is_cut_on_a_word_but_the_link_and_stop_stay() -> None:
    tail = "https://vocation.example.fr/offres/vac-0001 STOP au 38100"
    text = fit("Vocation : " + "une offre formidable " * 12, tail)
    assert size_of(text).segments == 1 and text.endswith(tail) and "... https://" in text
    short = fit("Vocation : offre à Bourg-en-Bresse.", tail)
    assert short == "Vocation : offre à Bourg-en-Bresse. " + tail


def test_a_link_too_long_for_words_in_one_segment_takes_two_never_more() -> None:
    tail = "https://vocation.example.fr/l/" + "A" * 100 + " STOP au 38100"
    body = "Vocation : Bourg-en-Bresse (29 km), Aide-soignant(e) de nuit. Logement propose."
    assert fit(body, tail) == f"{body} {tail}" and size_of(fit(body, tail)).segments == 2
    long = fit("Vocation : " + "une offre formidable " * 12, tail)
    assert size_of(long).segments == 2 and long.endswith(tail) and "... https://" in long


# --- tokens and consent ------------------------------------------------------------------------


def test_unsubscribe_token_round_trips_and_refuses_forgery() -> None:
    token = sign_unsubscribe("s3cret", "cand-42", Channel.EMAIL)
    assert verify_unsubscribe("s3cret", token) == ("cand-42", Channel.EMAIL)
    with pytest.raises(BadToken):
        verify_unsubscribe("other", token)
    with pytest.raises(BadToken):
        verify_unsubscribe("s3cret", token[:-2] + "AA")
    with pytest.raises(BadToken):
        verify_unsubscribe("s3cret", "garbage")


def test_withdrawing_a_channel_keeps_the_partners_version() -> None:
    contact = _contact(urgent_shift_sms=True, version=3)
    updated = without_channel(contact, Channel.SMS)
    assert updated.channels == {Channel.EMAIL} and updated.version == 3 and not updated.urgent_shift_sms
    assert without_channel(updated, Channel.SMS) == updated


def _consent_updated(consented: bool, origin: str, at: datetime) -> p.ConsentUpdated:
    return p.ConsentUpdated.model_validate(
        {
            "candidate_id": "c1",
            "email": "c1@exemple.fr",
            "channels": ["email"],
            "change": {"channel": "sms", "consented": consented, "origin": origin, "at": at},
        }
    )


def test_a_withdrawal_of_any_origin_suppresses_and_only_the_candidate_lifts() -> None:
    earlier = NOON - timedelta(hours=1)
    for origin in ("sms_stop", "email_unsubscribe", "partner", "candidate"):
        mark = mark_of(_consent_updated(False, origin, earlier), NOON)
        assert mark is not None and not mark.lifts and mark.at == earlier
    assert mark_of(_consent_updated(True, "partner", earlier), NOON) is None
    lift = mark_of(_consent_updated(True, "candidate", NOON + timedelta(days=400)), NOON)
    assert lift is not None and lift.lifts and lift.at == NOON  # no later than now


def test_a_suppression_is_lifted_only_by_a_strictly_newer_re_consent_whatever_the_order() -> None:
    stop = ConsentMark("c1", Channel.SMS, NOON, ConsentOrigin.SMS_STOP, lifts=False)
    same_time = ConsentMark("c1", Channel.SMS, NOON, ConsentOrigin.CANDIDATE, lifts=True)
    newer = ConsentMark("c1", Channel.SMS, NOON + timedelta(minutes=1), ConsentOrigin.CANDIDATE, lifts=True)
    stop_again = ConsentMark(
        "c1", Channel.SMS, NOON + timedelta(minutes=2), ConsentOrigin.SMS_STOP, lifts=False
    )
    assert merge_marks([stop])["c1", Channel.SMS].active
    assert merge_marks([stop, same_time])["c1", Channel.SMS].active
    assert not merge_marks([newer, stop])["c1", Channel.SMS].active
    assert merge_marks([stop_again, newer, stop])["c1", Channel.SMS].active
    assert not merge_marks([newer])["c1", Channel.SMS].active  # a re-consent alone suppresses nothing
    assert reachable_channels({Channel.EMAIL, Channel.SMS}, {Channel.SMS}) == {Channel.EMAIL}


@pytest.mark.parametrize(
    ("text", "stop"),
    [
        ("STOP", True),
        (" stop ", True),
        ("Stop.", True),
        ("Arrêt", True),
        ("ARRET SVP", True),
        ("Merci", False),
        ("stopper", False),
    ],
)
def test_stop_replies_are_recognised(text: str, stop: bool) -> None:
    assert is_stop_reply(text) is stop


def test_equal_or_newer_contact_versions_apply() -> None:
    assert should_apply(None, 1) and should_apply(2, 2) and should_apply(2, 3) and not should_apply(3, 2)


# --- decisions ---------------------------------------------------------------------------------


def test_consent_is_checked_at_send_time_even_for_critical_messages() -> None:
    contact = _contact(channels=frozenset({Channel.EMAIL}))
    item = DueItem(
        RecipientKind.CANDIDATE, Channel.SMS, NotificationPurpose.IMMERSION_REMINDER, NOON, critical=True
    )
    decision = decide(item, contact=contact, host_address=None, now=NOON, policy=POLICY, capped_sent_today=0)
    assert decision.why is SuppressionReason.NO_CONSENT


def test_sms_at_night_is_deferred_to_eight() -> None:
    night = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)
    decision = decide(
        _item(), contact=_contact(), host_address=None, now=night, policy=POLICY, capped_sent_today=0
    )
    assert (decision.action, decision.until) == (Action.DEFER, datetime(2026, 11, 23, 7, 0, tzinfo=UTC))


def test_urgent_shift_sms_uses_the_urgent_window_only_with_its_own_consent() -> None:
    early = datetime(2026, 11, 22, 5, 30, tzinfo=UTC)  # 06:30 in Paris
    item = _item(purpose=NotificationPurpose.URGENT_SHIFT)
    with_consent = decide(
        item,
        contact=_contact(urgent_shift_sms=True),
        host_address=None,
        now=early,
        policy=POLICY,
        capped_sent_today=0,
    )
    without = decide(
        item, contact=_contact(), host_address=None, now=early, policy=POLICY, capped_sent_today=0
    )
    assert with_consent.action is Action.SEND and without.action is Action.DEFER


def test_caps_stop_matches_but_never_confirmations() -> None:
    contact = _contact()
    capped = decide(_item(), contact=contact, host_address=None, now=NOON, policy=POLICY, capped_sent_today=3)
    booked = decide(
        _item(purpose=NotificationPurpose.IMMERSION_BOOKED),
        contact=contact,
        host_address=None,
        now=NOON,
        policy=POLICY,
        capped_sent_today=3,
    )
    assert capped.why is SuppressionReason.CAPPED and booked.action is Action.SEND


def test_unknown_contact_is_waited_for_during_the_grace_then_suppressed() -> None:
    wait = decide(
        _item(),
        contact=None,
        host_address=None,
        now=NOON + timedelta(minutes=1),
        policy=POLICY,
        capped_sent_today=0,
    )
    late = decide(
        _item(),
        contact=None,
        host_address=None,
        now=NOON + timedelta(minutes=6),
        policy=POLICY,
        capped_sent_today=0,
    )
    assert wait.action is Action.DEFER and late.why is SuppressionReason.NO_CONTACT


def test_a_missing_contact_is_looked_for_again_within_two_seconds() -> None:
    # Its arrival wakes the rows, but may commit while the worker defers them: the next look is soon.
    wait = decide(_item(), contact=None, host_address=None, now=NOON, policy=POLICY, capped_sent_today=0)
    assert wait.action is Action.DEFER and wait.until == NOON + timedelta(seconds=2)


def test_a_match_for_a_daily_digest_reader_is_held_but_a_critical_message_is_not() -> None:
    contact = _contact(digest=DigestMode.DAILY)
    held = decide(
        _item(Channel.EMAIL), contact=contact, host_address=None, now=NOON, policy=POLICY, capped_sent_today=0
    )
    reminder = decide(
        DueItem(
            RecipientKind.CANDIDATE,
            Channel.EMAIL,
            NotificationPurpose.IMMERSION_REMINDER,
            NOON,
            critical=True,
        ),
        contact=contact,
        host_address=None,
        now=NOON,
        policy=POLICY,
        capped_sent_today=0,
    )
    assert held.action is Action.HOLD and reminder.action is Action.SEND


def test_hosts_need_an_address_but_no_consent() -> None:
    item = DueItem(
        RecipientKind.ESTABLISHMENT, Channel.EMAIL, NotificationPurpose.IMMERSION_BOOKED_HOST, NOON
    )
    assert (
        decide(
            item, contact=None, host_address="tuteur@ehpad.fr", now=NOON, policy=POLICY, capped_sent_today=0
        ).action
        is Action.SEND
    )


def test_a_booking_confirmation_waits_for_its_slot_during_the_grace_then_goes_without_it() -> None:
    item = DueItem(
        RecipientKind.ESTABLISHMENT,
        Channel.EMAIL,
        NotificationPurpose.IMMERSION_BOOKED_HOST,
        NOON,
        slot_unknown=True,
    )

    def at(now: datetime) -> Action:
        return decide(
            item, contact=None, host_address="tuteur@ehpad.fr", now=now, policy=POLICY, capped_sent_today=0
        ).action

    assert at(NOON) is Action.DEFER
    assert at(NOON + timedelta(minutes=4)) is Action.DEFER
    assert at(NOON + timedelta(minutes=5)) is Action.SEND  # never lost for want of a title


# --- planning and digests ----------------------------------------------------------------------


def _match(**kw: object) -> p.MatchFound:
    values: dict[str, object] = {
        "match_id": "m1",
        "candidate_id": "c1",
        "offer_id": "vac-1",
        "offer_kind": "vacancy",
        "offer_version": 3,
        "offer_title": "Aide-soignant(e)",
        "rome_code": "J1501",
        "commune_insee": "01053",
        "distance_km": 3.2,
        "score": 80,
        "reasons": ["à 3 km de chez vous"],
    }
    values.update(kw)
    return p.MatchFound.model_validate(values)


def test_a_match_plans_one_row_per_consented_channel_keyed_by_offer() -> None:
    rows = plan_match(_match(), _contact(channels=frozenset({Channel.SMS})), NOON, POLICY)
    assert [(r.channel, r.about_id, r.about_version, r.held) for r in rows] == [
        (Channel.SMS, "vac-1", 1, False)
    ]
    none = plan_match(_match(), _contact(channels=frozenset()), NOON, POLICY)
    assert [(r.channel, r.suppressed_why) for r in none] == [(Channel.EMAIL, SuppressionReason.NO_CONSENT)]
    unknown = plan_match(_match(), None, NOON, POLICY)
    assert {r.channel for r in unknown} == {Channel.EMAIL, Channel.SMS}


def test_daily_digest_readers_matches_are_held_until_the_digest_hour() -> None:
    [row] = plan_match(
        _match(), _contact(channels=frozenset({Channel.EMAIL}), digest=DigestMode.DAILY), NOON, POLICY
    )
    assert row.held and row.not_before == datetime(2026, 11, 22, 17, 0, tzinfo=UTC)


def test_an_urgent_shift_is_told_at_once_even_to_digest_readers() -> None:
    [row] = plan_match(
        _match(urgent=True),
        _contact(channels=frozenset({Channel.SMS}), digest=DigestMode.DAILY),
        NOON,
        POLICY,
    )
    assert row.purpose is NotificationPurpose.URGENT_SHIFT
    assert not row.held and row.not_before == NOON


def test_a_booking_plans_the_reminder_only_when_booked_before_the_reminder_time() -> None:
    booked = p.ImmersionBooked.model_validate(
        {
            "request_id": "r1",
            "slot_id": "s1",
            "candidate_id": "c1",
            "start_date": "2026-11-25",
            "end_date": "2026-11-26",
            "establishment_id": "e1",
            "places_left": 0,
        }
    )
    contact = _contact(channels=frozenset({Channel.EMAIL}))
    rows = plan_booking(booked, contact, None, booked_at=NOON, now=NOON, policy=POLICY)
    assert sorted((r.purpose, r.recipient_kind) for r in rows) == [
        (NotificationPurpose.IMMERSION_BOOKED, RecipientKind.CANDIDATE),
        (NotificationPurpose.IMMERSION_BOOKED_HOST, RecipientKind.ESTABLISHMENT),
        (NotificationPurpose.IMMERSION_REMINDER, RecipientKind.CANDIDATE),
    ]
    late = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert all(
        r.purpose is not NotificationPurpose.IMMERSION_REMINDER
        for r in plan_booking(booked, contact, None, booked_at=late, now=late, policy=POLICY)
    )


def test_digests_group_per_person_and_channel_best_first() -> None:
    rows = [
        HeldRow("1", "a", Channel.EMAIL, {"offer_id": "o1", "score": 50}),
        HeldRow("2", "a", Channel.EMAIL, {"offer_id": "o2", "score": 90}),
        HeldRow("3", "a", Channel.SMS, {"offer_id": "o1", "score": 50}),
        HeldRow("4", "b", Channel.EMAIL, {"offer_id": "o3", "score": 10}),
    ]
    digests = build_digests(rows, datetime(2026, 11, 22, 17, 0, tzinfo=UTC))
    assert [(d.recipient_id, d.channel, d.payload["count"]) for d in digests] == [
        ("a", Channel.EMAIL, 2),
        ("a", Channel.SMS, 1),
        ("b", Channel.EMAIL, 1),
    ]
    assert [i["offer_id"] for i in digests[0].payload["items"]] == ["o2", "o1"]
    assert digests[0].about_id == "digest-2026-11-22"


def test_a_fact_older_than_the_maximum_age_is_too_old_to_tell() -> None:
    policy = Policy(notice_max_age=timedelta(days=7))
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert not policy.too_old(now - timedelta(days=7), now)
    assert policy.too_old(now - timedelta(days=7, seconds=1), now)
    assert not policy.too_old(now + timedelta(minutes=5), now), "a clock a little ahead is not old"


def test_an_urgent_shift_is_news_for_a_day_only() -> None:
    policy = Policy(notice_max_age=timedelta(days=7), urgent_notice_max_age=timedelta(hours=24))
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert not policy.too_old(now - timedelta(hours=23), now, urgent=True)
    assert policy.too_old(now - timedelta(hours=25), now, urgent=True)
    assert not policy.too_old(now - timedelta(hours=25), now), "an ordinary match is news for a week"


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=20), st.booleans(), st.sampled_from(list(Channel))),
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_suppressions_do_not_depend_on_the_order_marks_are_read_in(
    marks: list[tuple[int, bool, Channel]], rnd: random.Random
) -> None:
    built = [
        ConsentMark(
            "c1",
            channel,
            NOON + timedelta(minutes=minute),
            ConsentOrigin.CANDIDATE if lifts else ConsentOrigin.SMS_STOP,
            lifts=lifts,
        )
        for minute, lifts, channel in marks
    ]
    shuffled = list(built)
    rnd.shuffle(shuffled)
    one_at_a_time: dict[tuple[str, Channel], Suppression] = {}
    for mark in shuffled:
        key = (mark.candidate_id, mark.channel)
        one_at_a_time[key] = one_at_a_time.get(key, Suppression(None, None)).with_mark(mark)
    at_once = merge_marks(built)
    assert {k: v.active for k, v in at_once.items()} == {k: v.active for k, v in one_at_a_time.items()}
    for (_, channel), record in at_once.items():
        stops = [m.at for m in built if m.channel is channel and not m.lifts]
        lifts = [m.at for m in built if m.channel is channel and m.lifts]
        # Off exactly when some opt-out is not followed by a strictly newer re-consent.
        assert record.active == (bool(stops) and (not lifts or max(lifts) <= max(stops)))


def test_unsubscribe_tokens_of_both_formats_are_read_and_nothing_else() -> None:
    links = LinkSigner([DEVELOPMENT_LINK_KEY])
    new = sign_unsubscribe_link(links, "cand-42", Channel.SMS)
    assert "." not in new
    assert read_unsubscribe(links, ["s3cret"], new) == ("cand-42", Channel.SMS)
    old = sign_unsubscribe("s3cret", "cand-42", Channel.EMAIL)
    assert read_unsubscribe(links, ["s3cret"], old) == ("cand-42", Channel.EMAIL)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    for refused in (
        links.sign(LinkAction.UNSUBSCRIBE_EMAIL, "cand-42", now=long_ago),  # expired
        links.sign(LinkAction.HIRED, "cand-42", "vac-1"),  # a link for another action
        LinkSigner(["another key, long enough to sign"]).sign(LinkAction.UNSUBSCRIBE_EMAIL, "cand-42"),
        "garbage",
    ):
        with pytest.raises(BadToken):
            read_unsubscribe(links, ["s3cret"], refused)
    with pytest.raises(BadToken):
        read_unsubscribe(links, ["other"], old)
