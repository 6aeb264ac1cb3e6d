"""The HTTP forms under /api/v2/dev/: only with the development endpoints on; bad input is a 400."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from horde_users.sandbox import Sandbox

DEV = ("faults", "requests", "clock", "reset", "snapshot", "restore", "users")


@pytest.fixture
def dev() -> Iterator[tuple[Sandbox, httpx.Client]]:
    with Sandbox(dev_endpoints=True) as sandbox, httpx.Client(base_url=sandbox.url) as http:
        yield sandbox, http


@pytest.mark.parametrize("name", [*DEV, "test-user"])
def test_no_dev_endpoint_answers_when_they_are_off(horde_sandbox: Sandbox, name: str) -> None:
    for method in ("GET", "POST", "DELETE"):
        response = httpx.request(method, f"{horde_sandbox.url}/v2/dev/{name}", json={})
        assert response.status_code in (404, 405)
        if response.status_code == 404:
            assert response.json() == {"message": "Not Found"}
    assert httpx.get(f"{horde_sandbox.url}/v2/dev/faults").status_code == 404


def test_faults_over_http(dev: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = dev
    added = http.post(
        "/v2/dev/faults", json={"method": "GET", "path": "/v2/users", "status": 503, "times": 1}
    )
    assert added.status_code == 201 and added.json()["status"] == 503
    assert [f["path"] for f in http.get("/v2/dev/faults").json()] == ["/v2/users"]
    assert http.get("/v2/users").status_code == 503
    assert http.get("/v2/users").status_code == 200
    http.post("/v2/dev/faults", json=[{"method": "GET", "path": "/v2/users", "status": 500}])
    assert http.delete("/v2/dev/faults").json() == {"message": "OK"}
    assert http.get("/v2/users").status_code == 200 and sandbox.faults.list() == []


@pytest.mark.parametrize(
    ("name", "method", "body", "words"),
    [
        ("faults", "POST", {"method": "GET", "path": "/v2/nothing", "status": 500}, "does not serve"),
        ("faults", "POST", {"method": "GET", "path": "/v2/users", "colour": 1}, "colour"),
        ("faults", "POST", [1], "a fault is"),
        ("faults", "POST", "[", "not valid JSON"),
        ("clock", "POST", {"advance": -5}, "0 or more"),
        ("clock", "POST", {"advance": "5"}, "number"),
        ("clock", "POST", {"back": 5}, "advance"),
        ("restore", "POST", {"snapshot": "nope"}, "no snapshot"),
        ("restore", "POST", {}, "snapshot"),
    ],
)
def test_bad_input_is_a_400_with_a_message(
    dev: tuple[Sandbox, httpx.Client], name: str, method: str, body: object, words: str
) -> None:
    _, http = dev
    if isinstance(body, str):
        response = http.request(method, f"/v2/dev/{name}", content=body)
    else:
        response = http.request(method, f"/v2/dev/{name}", json=body)
    assert response.status_code == 400
    assert set(response.json()) == {"message"} and words in response.json()["message"]


def test_bad_queries_on_the_log_are_400s(dev: tuple[Sandbox, httpx.Client]) -> None:
    _, http = dev
    for query in ("status=abc", "after=-1", "path=/v2/nothing", "colour=red"):
        response = http.get(f"/v2/dev/requests?{query}")
        assert response.status_code == 400 and "message" in response.json()


def test_a_wrong_method_is_a_405(dev: tuple[Sandbox, httpx.Client]) -> None:
    _, http = dev
    response = http.put("/v2/dev/clock")
    assert response.status_code == 405 and response.headers["allow"] == "GET, POST, OPTIONS"
    assert http.get("/v2/dev/elsewhere").status_code == 404


def test_clock_over_http(dev: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = dev
    user = sandbox.create_user("ann")
    age = http.get(f"/v2/users/{user.id}").json()["account_age"]
    moved = http.post("/v2/dev/clock", json={"advance": 3600})
    assert moved.status_code == 200 and moved.json()["offset"] == 3600
    assert http.get("/v2/dev/clock").json()["offset"] == 3600
    assert http.get(f"/v2/users/{user.id}").json()["account_age"] >= age + 3600


def test_the_log_over_http_with_filters_and_after(dev: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = dev
    user = sandbox.create_user("ann")
    http.get("/v2/users")
    http.get(f"/v2/users/{user.id}", headers={"apikey": user.api_key})
    http.get("/v2/users/99")
    log = http.get("/v2/dev/requests").json()
    assert log["total"] == 3  # the dev endpoints are not logged
    assert [r["status"] for r in log["requests"]] == [200, 200, 404]
    assert log["requests"][1]["headers"]["apikey"] == "<redacted>"
    assert user.api_key not in http.get("/v2/dev/requests").text
    assert [r["path"] for r in http.get("/v2/dev/requests?status=404").json()["requests"]] == [
        "/api/v2/users/99"
    ]
    assert len(http.get("/v2/dev/requests", params={"path": "/v2/users/{id}"}).json()["requests"]) == 2
    assert [r["path"] for r in http.get("/v2/dev/requests?after=2").json()["requests"]] == [
        "/api/v2/users/99"
    ]
    assert http.delete("/v2/dev/requests").status_code == 200 and len(sandbox.requests) == 0


def test_reset_snapshot_restore_and_users_over_http(dev: tuple[Sandbox, httpx.Client]) -> None:
    sandbox, http = dev
    ann = sandbox.create_user("ann")
    saved = http.post("/v2/dev/snapshot").json()["snapshot"]
    sandbox.create_user("bea")
    users = http.get("/v2/dev/users").json()
    assert [u["alias"] for u in users] == ["ann#1", "bea#2"] and "api_key" not in users[0]
    shown = http.get("/v2/dev/users?show_secrets=1").json()
    assert shown[0]["api_key"] == ann.api_key
    assert http.post("/v2/dev/restore", json={"snapshot": saved}).json() == {"message": "OK"}
    assert [u["alias"] for u in http.get("/v2/dev/users").json()] == ["ann#1"]
    assert http.post("/v2/dev/reset").json() == {"message": "OK"}
    assert http.get("/v2/dev/users").json() == []


def test_dev_endpoints_turn_the_test_user_endpoint_on(dev: tuple[Sandbox, httpx.Client]) -> None:
    _, http = dev
    created = http.post("/v2/dev/test-user", json={"username": "tester"})
    assert created.status_code == 201
    key = created.json()["api_key"]
    listed = http.get("/v2/dev/users?show_secrets=true").json()
    assert [(u["alias"], u["api_key"]) for u in listed] == [("tester#1", key)]
