"""structlog JSON logging with the CloudEvent id as correlation id, and no email or phone in any line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, clear_contextvars

__all__ = [
    "bind_contextvars",
    "bound_contextvars",
    "clear_contextvars",
    "configure_logging",
    "get_logger",
    "redact",
]

_EMAIL = re.compile(
    # Internationalised too (RFC 6531): a local part in any script, a domain in Unicode (U-labels)
    # or punycode (A-labels, `xn--…`), its last label letters or an A-label.
    r"[\w.!#$%&'*+/=?^`{|}~\-]+@(?:[\w\-]+\.)+(?:[^\W\d_]{2,}|xn--[\w\-]+)",
    re.IGNORECASE,
)
_PHONE = re.compile(
    r"(?<![\w])(?:\+|00)[1-9](?:[\s.\-]?\d){7,14}(?![\w])|(?<!\d)0[1-9](?:[\s.\-]?\d{2}){4}(?!\d)"
)
_SENSITIVE_KEYS = frozenset(
    {"email", "phone", "to", "recipient_address", "password", "api_key", "authorization"}
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with email addresses and phone numbers replaced."""
    return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, text))


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if str(k).lower() in _SENSITIVE_KEYS else _redact_value(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    return value


def _redact_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key.lower() in _SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact_value(event_dict[key])
    return event_dict


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is now, not the one at configuration time.

    Test runners swap and close `sys.stderr`; a handler holding the old stream would fail, and
    logging's error report prints the record's raw arguments (an address, say) unredacted.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


_ROUTINE_KAFKA_ERRORS = (
    "GroupCoordinatorNotAvailableError",
    "NotCoordinatorForGroupError",
    "CoordinatorLoadInProgressError",
)
"""What aiokafka logs at error level while a consumer group is still being set up (a fresh
broker, a new group): it retries by itself, so an operator should not be paged for it."""


class _RoutineKafkaErrorsAsWarnings(logging.Filter):
    """Logs aiokafka's retried group-coordinator errors as warnings (see `_ROUTINE_KAFKA_ERRORS`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.levelno == logging.ERROR
            and record.name.startswith("aiokafka")
            and any(name in record.getMessage() for name in _ROUTINE_KAFKA_ERRORS)
        ):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """Route structlog and the standard library's logging to one stream of redacted lines."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _redact_processor,
            lambda _, __, ed: {"service": service, **ed},
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.addFilter(_RoutineKafkaErrorsAsWarnings())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.raiseExceptions = False  # a failing handler must not print unredacted records
    for noisy in ("aiokafka", "asyncio", "mail.log"):  # aiosmtpd's mail.log names every recipient
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger; bind `event_id` (the CloudEvent id) to correlate lines."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
