"""`make demo`: a partner feeds a realistic scenario through the gateway of a running platform, narrated.

`scenario` holds the story's data, `runner` sends it step by step, `narrator` tells it, `gateway`
talks to the platform's HTTP APIs, `partner` gets the demo partner's key, `outbox` shows the
e-mails and SMS as they arrive, `cli` reads the command line.
"""

from vocation_local.demo.cli import main
from vocation_local.demo.scenario import build_scenario, expectations

__all__ = ["build_scenario", "expectations", "main"]
