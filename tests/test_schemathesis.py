"""The API holds up under schemathesis: every operation of `/openapi.json`, fuzzed in-process with the
real library, answers without a server error, with a documented status and in its documented shape.

Bounded and reproducible: a few derandomized examples per operation and mode (valid and invalid
data). Where it helps, cases reach real objects — a program with steps, a document, a broadcast, made
first — instead of random ids that only ever find a 404; deleting operations run last.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.app import create_app
from bot.runtime import Coachline
from tests.conftest import ADMIN_KEY

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 3, schemathesis.GenerationMode.NEGATIVE: 2}
STEPS = [
    {"step_name": "hello", "step_type": "MESSAGE", "action_config": {"message_template": "Hi {user_name}"}},
    {
        "step_name": "ask",
        "step_type": "QUESTION",
        "action_config": {"message_template": "Goal?", "answer_name": "goal", "choices": ["a", "b"]},
    },
    {
        "step_name": "route",
        "step_type": "CONDITION",
        "action_config": {"condition": "day > 2", "if_true": "ask"},
    },
]


@pytest.fixture
def service(make_service: Callable[..., Coachline]) -> Iterator[Coachline]:
    """A service whose lifespan schemathesis runs (once, in its own event loop)."""
    instance = make_service()
    yield instance
    schemathesis_asgi.shutdown_lifespans()


def _known_ids(app: Any) -> dict[str, str]:
    """Real objects for path parameters, made through the API itself (in-process) before the fuzzing."""
    with schemathesis_asgi.get_client(app) as client:

        def call(path: str, **kwargs: Any) -> Any:
            response = client.post(f"http://{schemathesis_asgi.HOST}{path}", headers=AUTH, **kwargs)
            assert response.status_code < 300, (path, response.text)
            return response.json()

        program = call("/api/v1/creators/programs", json={"title": "Fuzzed", "steps": STEPS})
        document = call(
            "/api/v1/creators/knowledge/upload",
            files={"file": ("sleep.txt", b"Sleep well: dim the lights an hour before bed.", "text/plain")},
        )
        broadcast = call("/api/v1/creators/broadcasts", json={"text": "Hello all"})
    return {
        "program_id": program["id"],
        "step_id": program["steps"][0]["id"],
        "document_id": document["id"],
        "broadcast_id": broadcast["broadcast_id"],
    }


def _run(operation: Any, mode: schemathesis.GenerationMode, known: dict[str, str]) -> list[str]:
    """Fuzz one operation in one mode; the failures, described."""
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode), use_known=st.booleans())
    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],  # no shrinking: a failure is reported as found
    )
    def fuzz(case: Any, use_known: bool) -> None:
        if use_known and case.path_parameters:
            case.path_parameters = {
                name: known.get(name, value) for name, value in case.path_parameters.items()
            }
        response = case.call(headers=AUTH)
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, BaseExceptionGroup) as problem:  # each failure, with its request
            failures.append(
                f"{case.method} {case.formatted_path} [{mode.value}] -> {response.status_code}: "
                f"{' '.join(str(problem).split())[:300]}"
            )

    # Unsatisfiable: nothing in this operation can be made invalid (no parameters, no body).
    with contextlib.suppress(Unsatisfiable):
        fuzz()
    return failures


def test_every_operation_holds_up_under_schemathesis(service: Coachline) -> None:
    app = create_app(service)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    known = _known_ids(app)
    results = list(schema.get_all_operations())
    operations = sorted(
        (result.ok() for result in results if isinstance(result, Ok)),
        key=lambda operation: (operation.method.upper() == "DELETE", operation.path, operation.method),
    )
    assert len(operations) == len(results), "the schema has operations schemathesis cannot read"

    failures = [
        failure for operation in operations for mode in EXAMPLES for failure in _run(operation, mode, known)
    ]

    assert len(operations) >= 40
    assert failures == [], "\n".join(failures)


def test_the_schema_documents_one_error_shape(service: Coachline) -> None:
    spec = create_app(service).openapi()

    error_schemas = {
        response["content"]["application/json"]["schema"]["$ref"]
        for operation in (op for path in spec["paths"].values() for op in path.values())
        for status, response in operation["responses"].items()
        if status.startswith(("4", "5"))
    }

    assert error_schemas == {"#/components/schemas/ErrorOut"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
