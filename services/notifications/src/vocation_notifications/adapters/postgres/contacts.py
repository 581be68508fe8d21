"""Contacts (sealed at rest) and consent suppressions: the `contacts` and `consent_suppressions` tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg
from vocation_shared.contracts.vocabulary import Channel, ConsentOrigin

from vocation_notifications.adapters.contact_cipher import ContactCipher
from vocation_notifications.adapters.postgres.rows import SEALED, contact_of
from vocation_notifications.core.consent import ConsentMark, Suppression, merge_marks
from vocation_notifications.core.model import Contact

_ACTIVE = "s.suppressed_at IS NOT NULL AND (s.lifted_at IS NULL OR s.lifted_at <= s.suppressed_at)"
"""An active suppression (`core.consent.Suppression.active`), for a row of `consent_suppressions s`."""
_REACHABLE = (
    "ARRAY(SELECT ch FROM unnest({claimed}) AS ch WHERE NOT EXISTS ("
    "SELECT 1 FROM consent_suppressions s WHERE s.candidate_id = {candidate} AND s.channel = ch AND "
    + _ACTIVE
    + ") ORDER BY ch)"
)
"""The channels claimed minus the active suppressions of that candidate, as SQL."""
_REACHABLE_NEW = _REACHABLE.format(claimed="string_to_array(c.channels, ',')", candidate="c.candidate_id")
_REACHABLE_STORED = _REACHABLE.format(claimed="c.claimed_channels", candidate="c.candidate_id")


class PostgresContacts:
    """The `Contacts` port on one transaction's connection."""

    def __init__(self, conn: asyncpg.Connection, cipher: ContactCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    async def get(self, candidate_id: str) -> Contact | None:
        """The stored contact, if any."""
        record = await self._conn.fetchrow("SELECT * FROM contacts WHERE candidate_id = $1", candidate_id)
        return None if record is None else contact_of(record, self._cipher, candidate_id)

    async def get_many(self, candidate_ids: Iterable[str]) -> dict[str, Contact]:
        """The stored contacts of these candidates (one query), by candidate id; unknown ones absent."""
        records = await self._conn.fetch(
            "SELECT * FROM contacts WHERE candidate_id = ANY($1::text[])", sorted(set(candidate_ids))
        )
        return {r["candidate_id"]: contact_of(r, self._cipher, r["candidate_id"]) for r in records}

    async def save_many(self, contacts: Sequence[Contact]) -> list[str]:
        """Store full contact states (one per candidate) in one statement, each unless a newer version
        is stored (`should_apply`: newer or equal wins). Returns the candidates whose state was applied.

        A state's channels are what its partner claims (`claimed_channels`); `channels`, what may be
        used, is that minus the active suppressions (`core.consent`): a partner's later state does
        not switch an opted-out channel back on. Call `refresh_channels` after `record_consent_marks`
        in the same transaction (the handler does) for the final word under the row locks.
        """
        if not contacts:
            return []
        ordered = sorted(contacts, key=lambda c: c.candidate_id)  # a steady lock order
        records = await self._conn.fetch(
            f"""
            INSERT INTO contacts (candidate_id, email, phone, phone_index, first_name, claimed_channels,
                                  channels, digest, urgent_shift_sms, language, version, updated_at)
            SELECT c.candidate_id, c.email, c.phone, c.phone_index, c.first_name,
                   string_to_array(c.channels, ','),
                   {_REACHABLE_NEW},
                   c.digest, c.urgent, c.language, c.version, now()
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[],
                        $8::int[], $9::text[], $10::text[])
                 AS c(candidate_id, email, phone, channels, digest, urgent, language, version, phone_index,
                      first_name)
            ON CONFLICT (candidate_id) DO UPDATE SET
                email = EXCLUDED.email, phone = EXCLUDED.phone, phone_index = EXCLUDED.phone_index,
                first_name = EXCLUDED.first_name, claimed_channels = EXCLUDED.claimed_channels,
                channels = EXCLUDED.channels, digest = EXCLUDED.digest,
                urgent_shift_sms = EXCLUDED.urgent_shift_sms, language = EXCLUDED.language,
                version = EXCLUDED.version, updated_at = now()
            WHERE contacts.version <= EXCLUDED.version
            RETURNING candidate_id
            """,
            [c.candidate_id for c in ordered],
            [self._cipher.seal(c.email, c.candidate_id, "email") for c in ordered],
            [self._cipher.seal(c.phone, c.candidate_id, "phone") for c in ordered],
            [",".join(sorted(str(ch) for ch in c.channels)) for c in ordered],
            [str(c.digest) for c in ordered],
            [c.urgent_shift_sms for c in ordered],
            [c.language for c in ordered],
            [c.version for c in ordered],
            [self._cipher.phone_index(c.phone) for c in ordered],
            [self._cipher.seal(c.first_name, c.candidate_id, "first_name") for c in ordered],
        )
        return [r["candidate_id"] for r in records]

    async def add_missing(self, contacts: Sequence[Contact]) -> list[str]:
        """Store full states this service published (an opt-out) only for candidates with no contact
        here (a rebuild from the topic); returns those stored."""
        if not contacts:
            return []
        stored = {
            r["candidate_id"]
            for r in await self._conn.fetch(
                "SELECT candidate_id FROM contacts WHERE candidate_id = ANY($1::text[])",
                [c.candidate_id for c in contacts],
            )
        }
        return await self.save_many([c for c in contacts if c.candidate_id not in stored])

    async def lock(self, candidate_ids: Iterable[str]) -> None:
        """Lock these candidates' contact rows (sorted: a steady order) until the transaction ends.

        Taken before the suppressions are read or written, by the handler and by an opt-out alike:
        each then sees what the other committed, and neither waits on the other in reverse order.
        """
        await self._conn.execute(
            "SELECT 1 FROM contacts WHERE candidate_id = ANY($1::text[]) ORDER BY candidate_id FOR UPDATE",
            sorted(set(candidate_ids)),
        )

    async def record_consent_marks(self, marks: Iterable[ConsentMark]) -> None:
        """Merge suppressions and re-consents: per (candidate, channel) the newest time of each kind."""
        merged = sorted(merge_marks(marks).items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
        if not merged:
            return
        await self._conn.execute(
            """
            INSERT INTO consent_suppressions (candidate_id, channel, origin, suppressed_at, lifted_at)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
            ON CONFLICT (candidate_id, channel) DO UPDATE SET
                origin = CASE
                    WHEN consent_suppressions.suppressed_at IS NULL
                      OR EXCLUDED.suppressed_at > consent_suppressions.suppressed_at
                    THEN coalesce(EXCLUDED.origin, consent_suppressions.origin)
                    ELSE consent_suppressions.origin END,
                suppressed_at = greatest(consent_suppressions.suppressed_at, EXCLUDED.suppressed_at),
                lifted_at = greatest(consent_suppressions.lifted_at, EXCLUDED.lifted_at),
                updated_at = now()
            """,
            [cid for (cid, _), _ in merged],
            [str(ch) for (_, ch), _ in merged],
            [str(r.origin) if r.origin is not None else None for _, r in merged],
            [r.suppressed_at for _, r in merged],
            [r.lifted_at for _, r in merged],
        )

    async def suppressed_channels(
        self, candidate_ids: Iterable[str]
    ) -> dict[str, dict[Channel, Suppression]]:
        """The active suppressions of these candidates, by candidate and channel."""
        records = await self._conn.fetch(
            f"SELECT * FROM consent_suppressions s WHERE s.candidate_id = ANY($1::text[]) AND {_ACTIVE}",
            sorted(set(candidate_ids)),
        )
        found: dict[str, dict[Channel, Suppression]] = {}
        for r in records:
            origin = ConsentOrigin(r["origin"]) if r["origin"] is not None else None
            found.setdefault(r["candidate_id"], {})[Channel(r["channel"])] = Suppression(
                r["suppressed_at"], r["lifted_at"], origin
            )
        return found

    async def refresh_channels(self, candidate_ids: Iterable[str]) -> dict[str, frozenset[Channel]]:
        """Set each contact's usable channels to what its state claims minus its active suppressions.

        Returns, per candidate whose state claims a suppressed channel, the channels kept off. The
        caller holds the rows' locks (`lock_contacts`, taken before the suppressions were touched),
        so this statement sees an opt-out committed meanwhile; a row whose channels do not change
        is not written.
        """
        ids = sorted(set(candidate_ids))
        if not ids:
            return {}
        records = await self._conn.fetch(
            f"""
            WITH wanted AS (
                SELECT c.candidate_id, c.claimed_channels, {_REACHABLE_STORED} AS channels
                FROM contacts c WHERE c.candidate_id = ANY($1::text[])
            ), changed AS (  -- run once whether read or not (a data-modifying WITH)
                UPDATE contacts c SET channels = w.channels
                FROM wanted w
                WHERE c.candidate_id = w.candidate_id AND c.channels IS DISTINCT FROM w.channels
            )
            SELECT w.candidate_id, w.claimed_channels, w.channels
            FROM wanted w
            WHERE NOT (w.claimed_channels <@ w.channels)
            """,
            ids,
        )
        kept_off: dict[str, frozenset[Channel]] = {}
        for r in records:
            off = frozenset(Channel(ch) for ch in r["claimed_channels"]) - {
                Channel(ch) for ch in r["channels"]
            }
            if off:
                kept_off[r["candidate_id"]] = off
        return kept_off

    async def with_phone(self, phone: str) -> list[str]:
        """Candidates reachable at this phone number (a family may share one)."""
        rows = await self._conn.fetch(
            "SELECT candidate_id FROM contacts WHERE phone_index = ANY($1::text[])",
            self._cipher.phone_lookups(phone),
        )
        return [r["candidate_id"] for r in rows]

    async def reseal_batch(self, after: str, batch: int = 500) -> tuple[int, str | None]:
        """`reseal_contacts` for the next `batch` contacts after the id `after`: how many were resealed,
        and the id to go on after (None once every contact was looked at)."""
        records = await self._conn.fetch(
            "SELECT * FROM contacts WHERE candidate_id > $1 ORDER BY candidate_id LIMIT $2 FOR UPDATE",
            after,
            batch,
        )
        if not records:
            return 0, None
        stale = [r for r in records if any(self._cipher.needs_reseal(r[f]) for f in SEALED)]
        contacts = [contact_of(r, self._cipher, r["candidate_id"]) for r in stale]
        await self._conn.executemany(
            "UPDATE contacts SET email = $2, phone = $3, phone_index = $4, first_name = $5 WHERE candidate_id = $1",
            [
                (
                    c.candidate_id,
                    self._cipher.seal(c.email, c.candidate_id, "email"),
                    self._cipher.seal(c.phone, c.candidate_id, "phone"),
                    self._cipher.phone_index(c.phone),
                    self._cipher.seal(c.first_name, c.candidate_id, "first_name"),
                )
                for c in contacts
            ],
        )
        return len(contacts), records[-1]["candidate_id"]

    async def erase(self, candidate_id: str) -> None:
        """Forget the contact and its suppressions."""
        await self._conn.execute("DELETE FROM contacts WHERE candidate_id = $1", candidate_id)
        await self._conn.execute("DELETE FROM consent_suppressions WHERE candidate_id = $1", candidate_id)
