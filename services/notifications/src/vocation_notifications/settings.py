"""Settings of the notifications service, from `VOCATION_*` environment variables."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from vocation_shared.backoff import Backoff
from vocation_shared.contracts.producers import Service
from vocation_shared.contracts.vocabulary import Channel
from vocation_shared.secrets import SecretProblem, weak_secret
from vocation_shared.settings import CommonSettings

from vocation_notifications.adapters.contact_cipher import ContactCipher, parse_keys
from vocation_notifications.core.policy import Policy
from vocation_notifications.core.windows import DailyWindow, parse_hhmm

DEFAULT_SECRET = "change-me-in-production"  # noqa: S105 - public: refused outside development mode
NEW_CONTACTS_KEY_COMMAND = "vocation notifications contacts new-key k1"


def _placeholder(value: str) -> bool:
    """Whether a setting is a placeholder (`CHANGE-ME`…) rather than a value, however malformed."""
    problem = weak_secret("", value.strip())
    return problem is not None and problem.reason == "is a placeholder"


class NotificationsSettings(CommonSettings):
    """What the notifications service needs: SMTP, SMS provider, rules, links."""

    service_name: str = "notifications"
    publisher: ClassVar[Service] = Service.NOTIFICATIONS
    database_url: str = "postgresql://postgres@127.0.0.1:5432/notifications"
    default_http_port: ClassVar[int] = 8083
    renamed: ClassVar[dict[str, str]] = {"VOCATION_CONSUMER_GROUP_PREFIX": "VOCATION_CONSUMER_GROUP"}

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    smtp_connections: int = Field(
        default=4, ge=1, le=64, description="SMTP connections kept open and reused."
    )
    smtp_timeout_s: float = 30.0
    email_from: str = "Vocation <notifications@vocation.example.fr>"
    message_id_domain: str = "notifications.vocation.example.fr"
    email_events_url: str | None = Field(
        default=None,
        description=(
            "The email provider's activity log (Brevo's API shape, e.g. https://api.brevo.com), asked"
            " by Message-ID before an email is sent again after a crash. Unset: plain SMTP, at least once."
        ),
    )
    email_events_key: SecretStr | None = None

    sms_provider: Literal["brevo", "sink"] = "sink"
    sms_url: str = "https://api.brevo.com"
    sms_key: SecretStr | None = None
    sms_sink_file: Path | None = Field(
        default=None, description="With the `sink` provider, also append each SMS to this JSON-lines file."
    )
    sms_sender: str = Field(default="Vocation", max_length=11)
    sms_stop_number: str = Field(default="38100", description="Short number the STOP replies go to.")
    sms_inbound_token: SecretStr | None = Field(
        default=None,
        description=(
            "Inbound SMS webhooks must carry it (`X-Vocation-Token` or `Authorization: Bearer`)."
            " Required with a real SMS provider outside development mode."
        ),
    )
    sms_concurrency: int = Field(default=8, ge=1, le=256)

    sms_window_start: str = "08:00"
    sms_window_end: str = "21:30"
    urgent_sms_window_start: str = "06:00"
    urgent_sms_window_end: str = "23:00"
    daily_cap_email: int = Field(default=10, ge=0)
    daily_cap_sms: int = Field(default=3, ge=0)
    digest_hour: str = "18:00"
    reminder_hour: str = "10:00"
    contact_grace_s: float = Field(default=300.0, ge=0)
    notice_max_age_h: float = Field(
        default=168.0,
        gt=0,
        description=(
            "A match or booking fact older than this (by its event time) when it arrives is not told: "
            "news a week old is no news, and a replay of old events must not reach people again."
        ),
    )
    urgent_notice_max_age_h: float = Field(
        default=24.0,
        gt=0,
        description="The same for an urgent replacement shift: after a day it is filled or gone.",
    )

    signing_secret: SecretStr = Field(
        default=SecretStr(DEFAULT_SECRET),
        description="Signs the unsubscribe links (HMAC-SHA256); at least 32 bytes, never the default.",
    )
    signing_secret_previous: SecretStr | None = Field(
        default=None,
        description=(
            "The signing secret before the last rotation: links signed with it still verify, new"
            " links are signed with `signing_secret`. Unset once the old links no longer matter."
        ),
    )
    contacts_keys: SecretStr | None = Field(
        default=None,
        description=(
            "Keys sealing emails and phones at rest (AES-256-GCM): `id:base64key[,id:base64key…]`, the"
            " first seals, the others still open (rotation). Unset: stored in clear (development)."
        ),
    )
    public_body_limit: int = Field(
        default=16 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Largest body `/desinscription` and `/sms/inbound` read (bytes); 413 beyond.",
    )
    public_failures_per_minute: float = Field(
        default=10.0,
        gt=0,
        description="Invalid links or inbound tokens a client address may send per minute before 429.",
    )
    public_failures_burst: int = Field(default=20, ge=1, description="…and at once.")
    trusted_proxies: str = Field(
        default="",
        description=(
            "Addresses or networks (CIDR), comma-separated, of the reverse proxies in front of the service: only from"
            " them is `X-Forwarded-For` believed. Empty: the client address is the socket's peer."
        ),
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8083", description="Public URL of this service (unsubscribe links)."
    )
    site_base_url: str = Field(
        default="https://vocation.example.fr", description="Public URL of the platform (offer links)."
    )

    worker_enabled: bool = True
    worker_batch: int = Field(default=100, ge=1, le=5000)
    worker_lanes: int = Field(default=1, ge=1, le=16, description="Batches in flight at once.")
    worker_poll_s: float = Field(default=0.2, gt=0)
    lease_s: float = Field(default=120.0, gt=0, description="How long a claimed row is ours before recovery.")
    retry_initial_s: float = Field(default=5.0, gt=0)
    retry_max_s: float = Field(default=3600.0, gt=0)
    retry_max_attempts: int = Field(default=8, ge=1)

    @field_validator("contacts_keys")
    @classmethod
    def _keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _placeholder(value.get_secret_value()):
            parse_keys(value.get_secret_value())  # a clear error at start-up, never at the first contact
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for entry in value.split(","):
            if entry.strip():
                ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names the bad entry
        return value

    def trusted_networks(self) -> list[str]:
        """The trusted proxies, one address or network a string (uvicorn's `forwarded_allow_ips`)."""
        return [entry.strip() for entry in self.trusted_proxies.split(",") if entry.strip()]

    def signing_secrets(self) -> list[str]:
        """The active signing secrets: the first signs new links, each verifies (rotation)."""
        active = [self.signing_secret.get_secret_value()]
        if self.signing_secret_previous is not None and self.signing_secret_previous.get_secret_value():
            active.append(self.signing_secret_previous.get_secret_value())
        return active

    def secret_problems(self) -> list[SecretProblem | None]:
        """What makes these settings unfit for production (see `vocation_shared.secrets.fail_closed`)."""
        problems = [
            weak_secret(
                "VOCATION_SIGNING_SECRET",
                self.signing_secret.get_secret_value(),
                public_default=DEFAULT_SECRET,
            )
        ]
        if self.signing_secret_previous is not None and self.signing_secret_previous.get_secret_value():
            problems.append(
                weak_secret(
                    "VOCATION_SIGNING_SECRET_PREVIOUS",
                    self.signing_secret_previous.get_secret_value(),
                    public_default=DEFAULT_SECRET,
                )
            )
        weak_keys = weak_secret("VOCATION_CONTACTS_KEYS", self._contacts_keys_setting(raw=True))
        if weak_keys is not None:  # a placeholder (`CHANGE-ME`) is named here, not as a parse error
            reason = weak_keys.reason
            if reason == "is empty":
                reason = "is empty (emails and phones would be stored in clear)"
            problems.append(SecretProblem(weak_keys.variable, reason, NEW_CONTACTS_KEY_COMMAND))
        if self.sms_provider != "sink":
            token = self.sms_inbound_token.get_secret_value() if self.sms_inbound_token else ""
            if not token:
                problems.append(
                    SecretProblem(
                        "VOCATION_SMS_INBOUND_TOKEN",
                        f"is empty while VOCATION_SMS_PROVIDER={self.sms_provider}"
                        " (anyone could post a STOP for any number)",
                    )
                )
            else:
                problems.append(weak_secret("VOCATION_SMS_INBOUND_TOKEN", token))
        problems.append(self.pseudonym_key_problem())
        problems.append(self.link_key_problem())  # the signed personal links (shared with the catalogue)
        return problems

    def _contacts_keys_setting(self, *, raw: bool = False) -> str:
        """The keys setting; unless `raw`, "" for a placeholder in development mode (no keys)."""
        keys = self.contacts_keys.get_secret_value().strip() if self.contacts_keys else ""
        if raw or not _placeholder(keys):
            return keys
        if not self.dev_mode:
            raise ValueError(
                f"VOCATION_CONTACTS_KEYS is a placeholder, not keys: set it to a value made with"
                f" `{NEW_CONTACTS_KEY_COMMAND}`"
            )
        return ""

    def contact_cipher(self) -> ContactCipher:
        """The cipher of the contacts table these settings describe."""
        return ContactCipher(parse_keys(self._contacts_keys_setting()))

    def delivery_backoff(self) -> Backoff:
        """When the worker tries a message again after a transient failure (`RETRY_*`)."""
        return Backoff(self.retry_initial_s, self.retry_max_s, self.retry_max_attempts)

    def policy(self) -> Policy:
        """The sending rules these settings describe."""
        return Policy(
            sms_window=DailyWindow(parse_hhmm(self.sms_window_start), parse_hhmm(self.sms_window_end)),
            urgent_sms_window=DailyWindow(
                parse_hhmm(self.urgent_sms_window_start), parse_hhmm(self.urgent_sms_window_end)
            ),
            daily_caps={Channel.EMAIL: self.daily_cap_email, Channel.SMS: self.daily_cap_sms},
            digest_at=parse_hhmm(self.digest_hour),
            reminder_at=parse_hhmm(self.reminder_hour),
            contact_grace=timedelta(seconds=self.contact_grace_s),
            notice_max_age=timedelta(hours=self.notice_max_age_h),
            urgent_notice_max_age=timedelta(hours=self.urgent_notice_max_age_h),
            tz=ZoneInfo(self.timezone),
        )
