"""HTTP pieces every service shares: the app and its problem+json errors, health, readiness, metrics, serving."""

from vocation_shared.http.app import create_app, install_problem_handlers
from vocation_shared.http.operations import (
    ReadinessCheck,
    kafka_reachable,
    operations_router,
    postgres_reachable,
)
from vocation_shared.http.problems import (
    PROBLEM_CONTENT_TYPE,
    ParameterError,
    Problem,
    ProblemError,
    problem_doc,
)
from vocation_shared.http.serve import run_service, serve

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "ParameterError",
    "Problem",
    "ProblemError",
    "ReadinessCheck",
    "create_app",
    "install_problem_handlers",
    "kafka_reachable",
    "operations_router",
    "postgres_reachable",
    "problem_doc",
    "run_service",
    "serve",
]
