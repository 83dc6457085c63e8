"""schemathesis over the whole OpenAPI document, as each role and as nobody, with every check: no 5xx, every
answer inside its documented status codes, media type and schema. The number of examples per operation
is bounded here (AIDFLOW_FUZZ_EXAMPLES, default 5); `make soak` raises it. The count each run made is
printed at its end."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.config import SchemathesisConfig

from tests.tally import record

H = Callable[[str], dict[str, str]]
EXAMPLES = int(os.environ.get("AIDFLOW_FUZZ_EXAMPLES", "5"))
ROLES = [None, "applicant1", "village1", "township1", "county", "inspector", "admin"]
# A body the schema allows can still break a rule no schema can say (a check digit, a guard of the
# procedure, a month that must not be in the future): the contract answers 422 with the reason. Every other
# check keeps schemathesis's defaults.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]}}}
)


@pytest.mark.parametrize("who", ROLES, ids=lambda who: who or "nobody")
def test_every_operation_as_every_role(app: FastAPI, client: TestClient, token_for: H, who: str | None) -> None:
    headers = token_for(who) if who else {}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    calls = operations = 0
    for found in schema.get_all_operations():
        operation = found.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def call(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(headers=headers)

        call()
    assert operations >= 20, "the whole document was read"
    record("schemathesis (every check)", calls=calls, **{f"operations as {who or 'nobody'}": operations})
