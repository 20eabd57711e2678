import pytest
from rest_framework.test import APIClient

READ = ["200", "401", "403", "404"]
LIST = ["200", "400", "401", "403", "404"]
CREATE = ["201", "400", "401", "403", "415"]
UPDATE = ["200", "400", "401", "403", "404", "415"]
DELETE = ["204", "401", "403", "404"]


@pytest.fixture(scope="module")
def schema() -> dict:
    """The OpenAPI schema PingBack serves, as JSON."""
    return APIClient().get("/api/schema/", HTTP_ACCEPT="application/json").json()


@pytest.mark.parametrize("kind", ["team", "label", "canned_response"])
@pytest.mark.parametrize(
    ("detail", "method", "expected"),
    [
        (False, "get", LIST),
        (False, "post", CREATE),
        (True, "get", READ),
        (True, "patch", UPDATE),
        (True, "delete", DELETE),
    ],
    ids=["list", "create", "show", "change", "delete"],
)
def test_every_operation_declares_the_answers_it_gives(
    schema, kind, detail, method, expected
):
    # given
    collection = "canned_responses" if kind == "canned_response" else f"{kind}s"
    path = f"/api/v1/{collection}/" + (f"{{{kind}_id}}/" if detail else "")

    # when
    operation = schema["paths"][path][method]

    # then
    assert sorted(operation["responses"]) == expected
    assert ("requestBody" in operation) == (method in ("post", "patch"))
    assert "put" not in schema["paths"][path]
