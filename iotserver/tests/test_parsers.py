"""JSON bodies nested past the interpreter's recursion limit answer 400, not 500."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(databases="__all__")

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register", "/devices"])
def test_deeply_nested_json_is_a_400_naming_the_problem(client_for, path):
    response = client_for(user_id=1).post(path, DEEP, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_ordinary_nesting_still_parses(client_for):
    response = client_for(user_id=1).post(
        "/devices", '{"name": "pi", "extra": [[[[1]]]]}', content_type="application/json"
    )

    assert response.status_code == 201
