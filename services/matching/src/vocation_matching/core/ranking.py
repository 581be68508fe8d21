"""Ranking and the reference (brute-force) matchers that the indexes must agree with."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from vocation_shared.contracts.vocabulary import LifeExperience

from vocation_matching.core.model import Candidate, Match, Offer, stable_hash
from vocation_matching.core.reasons import reasons
from vocation_matching.core.rules import Facts, evaluate
from vocation_matching.core.score import relevant_life_experience


def first_life_experience(declared: Iterable[LifeExperience], rome: str) -> LifeExperience | None:
    """The first (in the vocabulary's order) declared life experience that counts towards `rome`."""
    relevant = relevant_life_experience(rome) & frozenset(declared)
    return next((life for life in LifeExperience if life in relevant), None)


def offer_tie_break(offer: Offer) -> int:
    """A stable tie-breaker between offers of equal score and distance."""
    return stable_hash(f"{offer.source}:{offer.id}")


def make_match(
    candidate_id: str,
    offer: Offer,
    facts: Facts,
    score: int,
    today: date,
    life: LifeExperience | None,
    tie_break: int,
) -> Match:
    """A match with its reasons."""
    return Match(
        candidate_id=candidate_id,
        offer=offer,
        score=score,
        distance_km=facts.distance_km,
        close_metier=facts.close_metier,
        reasons=reasons(offer, facts, today, life),
        tie_break=tie_break,
    )


def rank(matches: Iterable[Match], limit: int) -> list[Match]:
    """Best first: higher score, then nearer, then the stable tie-breaker."""
    return sorted(matches, key=lambda m: (-m.score, m.distance_km, m.tie_break))[:limit]


def brute_force_for_offer(
    offer: Offer, candidates: Iterable[Candidate], today: date, limit: int, min_score: int
) -> list[Match]:
    """The reference: evaluate every candidate with the plain rules, keep the best `limit`."""
    found = []
    for candidate in candidates:
        outcome = evaluate(candidate, offer, today)
        if outcome.facts is not None and outcome.score >= min_score:
            life = first_life_experience(candidate.life_experience, offer.rome)
            found.append(
                make_match(
                    candidate.id, offer, outcome.facts, outcome.score, today, life, stable_hash(candidate.id)
                )
            )
    return rank(found, limit)


def best_offers_for(
    candidate: Candidate, offers: Iterable[Offer], today: date, limit: int, min_score: int
) -> list[Match]:
    """Evaluate the given offers for one candidate with the plain rules, keep the best `limit`."""
    found = []
    for offer in offers:
        outcome = evaluate(candidate, offer, today)
        if outcome.facts is not None and outcome.score >= min_score:
            life = first_life_experience(candidate.life_experience, offer.rome)
            found.append(
                make_match(
                    candidate.id, offer, outcome.facts, outcome.score, today, life, offer_tie_break(offer)
                )
            )
    return rank(found, limit)
