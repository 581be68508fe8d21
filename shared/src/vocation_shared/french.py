"""Dates written the French way, for what candidates read (matching's reasons, notifications' messages)."""

from __future__ import annotations

from datetime import date

MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def long_date(day: date, *, weekday: bool = False) -> str:
    """« 1er décembre 2026 », or « mardi 1er décembre 2026 » with `weekday`."""
    number = "1er" if day.day == 1 else str(day.day)
    text = f"{number} {MONTHS[day.month - 1]} {day.year}"
    return f"{WEEKDAYS[day.weekday()]} {text}" if weekday else text


def short_date(day: date) -> str:
    """« 01/12 »."""
    return f"{day.day:02d}/{day.month:02d}"
