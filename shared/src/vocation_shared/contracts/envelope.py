"""The CloudEvents 1.0 envelope (structured JSON mode) that every Vocation event rides in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from vocation_shared.contracts.topics import Topic

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
CLOUDEVENTS_BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
TYPE_PREFIX = "fr.vocation."

EventId = str
DataT = TypeVar("DataT", bound="EventData")


class EventData(BaseModel):
    """Base of every event payload: strict about unknown fields, immutable once built."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    SUBJECT_FIELD: ClassVar[str] = "id"

    def subject(self) -> str:
        """The entity id this payload is about: the CloudEvent `subject` and the Kafka key."""
        return str(getattr(self, self.SUBJECT_FIELD))


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 event in structured JSON mode.

    Concrete event types subclass `CloudEvent[Payload]`, set `type` to a `Literal`
    and declare the `TOPIC` they belong to.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    TOPIC: ClassVar[Topic]
    TYPE: ClassVar[str]

    specversion: Literal["1.0"] = "1.0"
    id: EventId = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$",
        description="Unique per source; (source, id) identifies the event.",
    )
    source: str = Field(
        min_length=1,
        max_length=500,
        pattern=r"^[a-zA-Z][a-zA-Z0-9+.\-]*:[^\s]+$|^/[^\s]*$",
        description="URI-reference of the system that published the event.",
    )
    type: str = Field(pattern=r"^fr\.vocation\.[a-z][a-z\-]*\.[a-z][a-z\-]*\.v[0-9]+$")
    subject: str = Field(min_length=1, max_length=200, description="The entity id; also the Kafka key.")
    time: AwareDatetime = Field(description="When the fact happened, RFC 3339 with an offset.")
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    data: DataT

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Take `TYPE` from the `type` field's literal default of a concrete event class."""
        super().__pydantic_init_subclass__(**kwargs)
        default = cls.model_fields["type"].default
        if isinstance(default, str) and default.startswith(TYPE_PREFIX):
            cls.TYPE = default

    @model_validator(mode="after")
    def _subject_is_the_entity(self) -> Self:
        expected = self.data.subject()
        if self.subject != expected:
            raise ValueError(
                f"subject must be the entity id of the data ({expected!r}), got {self.subject!r}"
            )
        return self

    @classmethod
    def build(
        cls,
        data: DataT,
        *,
        source: str,
        id: EventId | None = None,
        time: datetime | None = None,
    ) -> Self:
        """A new event of this type about `data`, with a fresh id and the current time."""
        return cls(
            id=id or str(uuid.uuid4()),
            source=source,
            type=cls.TYPE,
            subject=data.subject(),
            time=time or datetime.now(UTC),
            data=data,
        )

    def to_json_bytes(self) -> bytes:
        """The structured-mode JSON encoding, as written to Kafka and sent over HTTP."""
        return self.model_dump_json(exclude_none=True).encode()

    def to_json_dict(self) -> dict[str, Any]:
        """The structured-mode JSON encoding as a dict."""
        return self.model_dump(mode="json", exclude_none=True)


class Envelope(BaseModel):
    """The envelope alone, with an unparsed payload: what a router reads before the type is known."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: EventId = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=500)
    type: str = Field(min_length=1, max_length=200)
    subject: str | None = None
    time: AwareDatetime | None = None
    data: Any = None
