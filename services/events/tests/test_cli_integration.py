"""The operator commands `vocation partners|events|replay|dlq`, against the real database and broker."""

from __future__ import annotations

from importlib.metadata import entry_points

import orjson
import pytest
import typer
from typer.testing import CliRunner
from vocation_events.cli import describe_database, dlq_app, events_app, partners_app, replay_app
from vocation_shared.cli import PLUGIN_GROUP

pytestmark = pytest.mark.integration

COMMANDS = {"partners": partners_app, "events": events_app, "replay": replay_app, "dlq": dlq_app}
vocation = typer.Typer()
for name, sub in COMMANDS.items():
    vocation.add_typer(sub, name=name)


def test_the_commands_are_plugged_into_the_vocation_cli() -> None:
    plugged = {e.name: e.value for e in entry_points(group=PLUGIN_GROUP)}
    assert {name: plugged.get(name) for name in COMMANDS} == {
        name: f"vocation_events.cli:{name}_app" for name in COMMANDS
    }


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, kafka_bootstrap: str, fresh_database: str) -> CliRunner:
    monkeypatch.setenv("VOCATION_DATABASE_URL", fresh_database)
    monkeypatch.setenv("VOCATION_KAFKA_BOOTSTRAP", kafka_bootstrap)
    return CliRunner()


def run(cli: CliRunner, *args: str) -> tuple[int, str]:
    result = cli.invoke(vocation, list(args))
    # stdout and stderr, without the line naming the database (on stderr, before anything else)
    said = [
        line for line in result.output.splitlines(keepends=True) if not line.startswith("events database: ")
    ]
    return result.exit_code, "".join(said)


def test_an_operator_creates_lists_and_revokes_a_partner(cli: CliRunner) -> None:
    code, out = run(
        cli,
        "partners",
        "create",
        "ehpad-tilleuls",
        "--source",
        "urn:partner:ehpad-tilleuls",
        "--allow",
        "fr.vocation.vacancy.posted.v1",
        "--allow",
        "fr.vocation.vacancy.closed.v1",
    )
    assert code == 0, out
    key = out.strip().splitlines()[-1]
    assert key.startswith("vk_") and len(key) > 40
    code, out = run(cli, "partners", "list")
    assert code == 0
    assert "ehpad-tilleuls\tactive" in out
    assert key not in out
    assert "fr.vocation.vacancy.closed.v1,fr.vocation.vacancy.posted.v1" in out
    assert run(cli, "partners", "create", "ehpad-tilleuls", "--source", "urn:x:y", "--allow", "*")[0] == 1
    code, out = run(cli, "partners", "rotate-key", "ehpad-tilleuls")
    assert code == 0 and out.strip().splitlines()[-1] != key
    assert run(cli, "partners", "revoke", "ehpad-tilleuls")[0] == 0
    assert "ehpad-tilleuls\trevoked" in run(cli, "partners", "list")[1]
    # A new key does not bring a revoked partner back: that is `reactivate`, explicitly.
    code, out = run(cli, "partners", "rotate-key", "ehpad-tilleuls")
    assert code == 1 and "revoked" in out and "reactivate" in out
    assert "ehpad-tilleuls\trevoked" in run(cli, "partners", "list")[1]
    code, out = run(cli, "partners", "reactivate", "ehpad-tilleuls")
    assert code == 0 and out.strip().splitlines()[-1].startswith("vk_")
    assert "ehpad-tilleuls\tactive" in run(cli, "partners", "list")[1]
    assert run(cli, "partners", "reactivate", "ehpad-tilleuls")[0] == 1  # not revoked


def test_create_json_prints_the_key_for_scripts_and_says_which_database(cli: CliRunner) -> None:
    result = cli.invoke(
        vocation,
        ["partners", "create", "portail-ain", "--source", "urn:partner:ain", "--allow", "*", "--json"],
    )
    assert result.exit_code == 0, result.output
    created = orjson.loads(result.stdout)
    assert created["name"] == "portail-ain" and created["source"] == "urn:partner:ain"
    assert created["key"].startswith("vk_")
    # stderr names the database, never a password
    assert "events database: " in result.stderr
    assert ":" in result.stderr.split("events database: ")[1]


def test_describe_database_never_shows_the_password() -> None:
    described = describe_database("postgresql://events:s3cr3t@db.internal:6432/events_prod?sslmode=require")
    assert described == "db.internal:6432/events_prod"


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--source", "urn:partner:x", "--allow", "fr.vocation.match.found.v1"], "internal facts"),
        (
            ["--source", "urn:partner:x", "--allow", "*", "--allow", "fr.vocation.immersion.booked.v1"],
            "internal facts",
        ),
        (["--source", "urn:vocation:matching", "--allow", "*"], "reserved for the platform"),
    ],
)
def test_a_partner_cannot_be_given_internal_facts_nor_a_service_source(
    cli: CliRunner, args: list[str], why: str
) -> None:
    code, out = run(cli, "partners", "create", "x", *args)
    assert code == 2 and why in out


def test_an_unknown_event_type_is_refused_when_creating_a_partner(cli: CliRunner) -> None:
    code, out = run(cli, "partners", "create", "x", "--source", "urn:x:y", "--allow", "fr.vocation.nope.v1")
    assert code == 2
    assert "unknown event types" in out


def test_showing_an_unknown_entity_says_so(cli: CliRunner) -> None:
    code, out = run(cli, "events", "show", "nobody")
    assert code == 1
    assert "no archived event" in out


def test_a_dry_run_replay_counts_what_it_would_republish(cli: CliRunner) -> None:
    code, out = run(cli, "replay", "--topic", "vacancies", "--since", "2020-01-01", "--dry-run")
    assert code == 0, out
    assert "would replay 0 events of vacancies" in out
    assert run(cli, "replay", "--topic", "nope", "--since", "2020-01-01")[0] == 2


def test_dead_letters_of_a_topic_are_listed(cli: CliRunner) -> None:
    code, out = run(cli, "dlq", "list", "establishments")
    assert code == 0, out
    assert "dead letters" in out


def test_an_operator_subscribes_a_partner_to_webhooks_lists_and_stops_the_subscription(
    cli: CliRunner,
) -> None:
    assert (
        run(cli, "partners", "create", "portail-ain", "--source", "urn:partner:ain", "--allow", "*")[0] == 0
    )
    hook = "https://portail.ain.fr/hooks/vocation"
    code, out = run(
        cli, "partners", "subscribe", "portail-ain", "--url", hook, "--type", "fr.vocation.vacancy.posted.v1"
    )
    assert code == 0, out
    # Without DNS (as here) the host is accepted with a warning: each delivery checks it again.
    out = "\n".join(line for line in out.splitlines() if not line.startswith("warning:"))
    subscription_id = out.split()[1]
    secret = out.strip().splitlines()[-1]
    assert subscription_id.startswith("sub_") and secret.startswith("whsec_")
    code, out = run(cli, "partners", "subscriptions", "portail-ain")
    assert code == 0 and f"{subscription_id}\tportail-ain\tactive\t{hook}" in out
    assert "pending=0 delivered=0 failed=0" in out and secret not in out
    assert run(cli, "partners", "unsubscribe", subscription_id)[0] == 0
    assert "\tstopped\t" in run(cli, "partners", "subscriptions")[1]
    assert run(cli, "partners", "unsubscribe", subscription_id)[0] == 1


@pytest.mark.parametrize(
    ("partner", "url", "event_type", "why"),
    [
        ("portail-ain", "https://portail.ain.fr/h", "fr.vocation.candidate.registered.v1", "about people"),
        ("portail-ain", "http://portail.ain.fr/h", "fr.vocation.vacancy.posted.v1", "must be https"),
        ("nobody", "https://portail.ain.fr/h", "fr.vocation.vacancy.posted.v1", "no active partner"),
    ],
)
def test_a_webhook_subscription_that_cannot_be_made_says_why(
    cli: CliRunner, partner: str, url: str, event_type: str, why: str
) -> None:
    assert (
        run(cli, "partners", "create", "portail-ain", "--source", "urn:partner:ain", "--allow", "*")[0] == 0
    )
    code, out = run(cli, "partners", "subscribe", partner, "--url", url, "--type", event_type)
    assert code != 0 and why in out


def test_a_webhook_to_an_internal_address_is_refused_at_subscription_unless_allowed(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(cli, "partners", "create", "dev-tool", "--source", "urn:partner:dev", "--allow", "*")[0] == 0
    for url, why in (
        ("http://127.0.0.1:9000/hook", "127.0.0.1 is a loopback address"),
        ("http://localhost:9000/hook", "is a loopback address"),
        ("https://169.254.169.254/latest", "cloud metadata address"),
        ("https://10.1.2.3/hook", "private address"),
    ):
        code, out = run(
            cli, "partners", "subscribe", "dev-tool", "--url", url, "--type", "fr.vocation.vacancy.posted.v1"
        )
        assert code == 2 and why in out and "VOCATION_WEBHOOK_ALLOWED_NETWORKS" in out, out
    monkeypatch.setenv("VOCATION_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")
    code, out = run(
        cli,
        "partners",
        "subscribe",
        "dev-tool",
        "--url",
        "http://127.0.0.1:9000/hook",
        "--type",
        "fr.vocation.vacancy.posted.v1",
    )
    assert code == 0, out


def test_a_second_partner_on_a_source_already_used_is_refused_unless_shared_explicitly(
    cli: CliRunner,
) -> None:
    base = ["partners", "create"]
    assert run(cli, *base, "mairie-bourg", "--source", "urn:partner:bourg", "--allow", "*")[0] == 0
    code, out = run(cli, *base, "intrus-bourg", "--source", "urn:partner:bourg", "--allow", "*")
    assert code == 1 and "already the partner 'mairie-bourg'" in out and "--share-source" in out
    assert "intrus-bourg" not in run(cli, "partners", "list")[1]
    shared = [*base, "mairie-bourg-2", "--source", "urn:partner:bourg", "--allow", "*", "--share-source"]
    assert run(cli, *shared)[0] == 0
