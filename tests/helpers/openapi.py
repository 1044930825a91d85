"""Checking real responses against the OpenAPI document the app serves (the ``spec`` fixture,
tests/conftest.py)."""

from __future__ import annotations

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


def schema_validator(spec, name):
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:orderly-openapi", resource)
    return Draft202012Validator(
        {"$ref": f"urn:orderly-openapi#/components/schemas/{name}"}, registry=registry
    )


def response_schema_name(spec, path, method, status):
    content = spec["paths"][path][method]["responses"][str(status)]["content"]
    return content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]


def check(spec, path, method, response):
    name = response_schema_name(spec, path, method, response.status_code)
    errors = list(schema_validator(spec, name).iter_errors(response.get_json()))
    assert errors == [], [e.message for e in errors]
