"""Schemathesis against the service's own OpenAPI schema, served by the real server process.

For every documented operation it generates requests from the schema (valid ones, and broken
ones: wrong types, missing fields, other methods, odd media types) and checks that no answer
is a 5xx and that every answer is documented: its status, content type, headers and body
schema. Bounded by SCHEMA_EXAMPLES per operation (about 10-20 s in all).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from service.http.app import create_app
from service.settings import Settings

SCHEMA_EXAMPLES = int(os.environ.get("SCHEMA_EXAMPLES", "50"))
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


# The schema is built from the app itself at collection time (the live server starts later, as
# a fixture); the first test checks that the server serves exactly this schema.
OPENAPI = create_app(Settings()).openapi()
schema = schemathesis.openapi.from_dict(OPENAPI)


def test_the_tested_schema_is_the_one_the_server_serves(server):
    assert server.http.get("/openapi.json").json() == OPENAPI


@pytest.mark.filterwarnings("ignore:Skipped test cases with unsupported payload media types")
@schema.parametrize()
@settings(max_examples=SCHEMA_EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented_and_none_is_a_server_error(case, server):
    case.call_and_validate(base_url=server.url, checks=CHECKS, timeout=30)


def test_the_server_is_healthy_and_logged_no_error_after_the_schema_run(server):
    server.assert_healthy()
    assert not [line for line in server.log_lines() if line.get("severity") == "ERROR"]
