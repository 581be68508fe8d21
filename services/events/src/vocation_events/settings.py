"""Settings of the events service, read from `VOCATION_*` environment variables."""

from __future__ import annotations

import ipaddress
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator
from vocation_shared.contracts.producers import Service
from vocation_shared.sealing import ContactCipher, parse_keys
from vocation_shared.secrets import SecretProblem
from vocation_shared.settings import CommonSettings

NEW_KEYS_COMMAND = "vocation notifications contacts new-key"


class EventsSettings(CommonSettings):
    """The gateway's HTTP endpoint, its limits, and the archive consumer."""

    service_name: str = "events"
    publisher: ClassVar[Service] = Service.EVENTS
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/events",
        description="PostgreSQL DSN of the events database (the gateway and every `vocation` command of it).",
    )
    http_workers: int = Field(
        default=1, ge=1, le=64, description="Gateway processes sharing the port (the first one archives)."
    )
    max_event_bytes: int = Field(default=1024 * 1024, ge=1024, description="Largest single event body.")
    max_batch_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Largest batch body.")
    max_batch_events: int = Field(default=1000, ge=1, le=10_000)
    rate_per_s: float = Field(
        default=20_000,
        gt=0,
        description="Default events per second a partner may send (one bucket per partner in the database, shared by every instance and worker).",
    )
    rate_burst: float = Field(
        default=40_000, gt=0, description="Default bucket size; never below the largest batch."
    )
    publish_timeout_s: float = Field(
        default=15.0, gt=0, description="How long a publish may wait for Kafka before the answer is 503."
    )
    partner_cache_ttl_s: float = Field(
        default=5.0, ge=0, description="How long a looked-up API key is trusted (revocation delay)."
    )
    archive_enabled: bool = Field(default=True, description="Run the archive consumer in this process.")
    archive_group: str = Field(default="events-archive", description="Consumer group of the archive.")
    webhooks_enabled: bool = Field(
        default=True, description="Queue and send partners' webhook deliveries in this process."
    )
    webhooks_group: str = Field(default="events-webhooks", description="Consumer group queuing deliveries.")
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="How long a partner may take to answer.")
    webhook_retry_initial_s: float = Field(
        default=30.0, gt=0, description="First delay after a failed delivery."
    )
    webhook_retry_max_s: float = Field(
        default=3600.0, gt=0, description="Longest delay between two attempts."
    )
    webhook_max_attempts: int = Field(default=12, ge=1, description="Attempts before a delivery is `failed`.")
    webhook_poll_s: float = Field(default=1.0, gt=0, description="Wait between two looks for due deliveries.")
    webhook_allowed_networks: str = Field(
        default="",
        description=(
            "Addresses webhooks may reach although internal (loopback, private…), comma-separated"
            " networks or addresses, e.g. `127.0.0.1/32,::1` for a development receiver. Empty in production."
        ),
    )
    contacts_keys: SecretStr | None = Field(
        default=None,
        description=(
            "Keys sealing names, emails and phones in the archive and the webhooks' secrets"
            " (AES-256-GCM): `id:base64key[,id:base64key…]`, the first seals, the others still open"
            " (rotation); the same as the notifications service's. Required outside development mode."
        ),
    )
    eraser_erasures_per_pass: int = Field(
        default=100, ge=1, le=10_000, description="Erasures the archive's eraser works on per pass."
    )
    eraser_rows_per_pass: int = Field(
        default=1000, ge=1, le=100_000, description="Archived rows the eraser deletes per statement at most."
    )
    eraser_pause_s: float = Field(
        default=0.0, ge=0, description="Pause between two passes of the eraser while erasures are pending."
    )
    eraser_poll_s: float = Field(default=1.0, gt=0, description="Wait between two looks for new erasures.")
    gc_gen0_threshold: int = Field(
        default=100_000,
        ge=0,
        description="Allocations between young-generation garbage collections (0: Python's default).",
    )
    producer_max_batch_bytes: int = Field(default=512 * 1024, ge=16 * 1024, le=1024 * 1024)
    producer_linger_ms: int = Field(default=2, ge=0, le=1000)

    @field_validator("contacts_keys")
    @classmethod
    def _keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())  # a clear error at start-up, never at the first event
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        for item in value.replace(" ", ",").split(","):
            if item:
                ipaddress.ip_network(item, strict=False)  # ValueError names the bad item
        return value

    def contact_cipher(self) -> ContactCipher:
        """The cipher of the archive's personal fields and the webhooks' secrets."""
        keys = self.contacts_keys.get_secret_value() if self.contacts_keys else ""
        return ContactCipher(parse_keys(keys))

    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """The internal networks webhooks may reach all the same (development receivers)."""
        items = self.webhook_allowed_networks.replace(" ", ",").split(",")
        return [ipaddress.ip_network(item, strict=False) for item in items if item]

    def secret_problems(self) -> list[SecretProblem]:
        """What is wrong with this service's secrets (`vocation_shared.secrets.fail_closed` decides)."""
        problems: list[SecretProblem] = []
        keys = self.contacts_keys.get_secret_value() if self.contacts_keys else ""
        if not parse_keys(keys):
            problems.append(SecretProblem("VOCATION_CONTACTS_KEYS", "is empty", NEW_KEYS_COMMAND))
        pseudonym_key = self.pseudonym_key_problem()  # the erasure ledger keeps pseudonyms under it
        if pseudonym_key is not None:
            problems.append(pseudonym_key)
        return problems
