"""The demo's voice: titles, numbered steps, items and what should happen, with pauses."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Narrator:
    """Prints the story; pauses between steps unless told to go fast."""

    pause_s: float
    out: Callable[[str], None] = print
    step_number: int = 0

    def title(self, text: str) -> None:
        self.out("")
        self.out(text)
        self.out("=" * len(text))

    def step(self, text: str) -> None:
        self.step_number += 1
        self.out("")
        heading = f"Step {self.step_number}. {text}"
        self.out(heading)
        self.out("-" * len(heading))

    def say(self, text: str = "") -> None:
        self.out(f"  {text}" if text else "")

    def item(self, text: str) -> None:
        self.out(f"    • {text}")

    def expect(self, text: str) -> None:
        self.out(f"  → what should happen: {text}")

    def wait(self, factor: float = 1.0) -> None:
        if self.pause_s > 0:
            time.sleep(self.pause_s * factor)
