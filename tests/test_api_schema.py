"""The OpenAPI schema says what the API answers (the fuzz test checks every 2xx body against
it): fields that can be null say so, and the photo upload answers a plain list."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client) -> dict:
    return client.get("/api/schema/", {"format": "json"}).json()


def test_parents_and_the_duplicate_can_be_null(schema):
    components = schema["components"]["schemas"]
    assert components["Region"]["properties"]["parent"].get("nullable") is True
    assert components["Category"]["properties"]["parent"].get("nullable") is True
    assert components["GrievanceDetail"]["properties"]["duplicate_of"].get("nullable") is True


def test_the_photo_upload_answers_a_list_of_attachments(schema):
    answer = schema["paths"]["/api/v1/grievances/{id}/attachments/"]["post"]["responses"]["201"]
    body = answer["content"]["application/json"]["schema"]
    assert body["type"] == "array"
    assert body["items"] == {"$ref": "#/components/schemas/Attachment"}
