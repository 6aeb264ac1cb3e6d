"""The request log: every answered request, oldest first, keys redacted, filterable and bounded."""

from __future__ import annotations

import httpx
import pytest

from horde_users.sandbox.pytest_plugin import SandboxUsers
from horde_users.sandbox.requestlog import REDACTED, RequestLog, RequestRecord


def test_every_answered_request_is_logged_in_order_with_keys_redacted(
    horde_sandbox_users: SandboxUsers,
) -> None:
    sandbox, alice, admin = horde_sandbox_users.sandbox, horde_sandbox_users.alice, horde_sandbox_users.admin
    with httpx.Client(base_url=sandbox.url) as http:
        http.get("/v2/users", params={"page": "2"}, headers={"Proxy-Authorization": "secret-passkey"})
        http.get("/v2/find_user", headers={"apikey": alice.api_key})
        http.put(f"/v2/users/{alice.id}", headers={"apikey": admin.api_key}, json={"kudos": 3})
        http.get("/v2/nowhere")
    records = list(sandbox.requests)
    assert [(r.method, r.path, r.status) for r in records] == [
        ("GET", "/api/v2/users", 200),
        ("GET", "/api/v2/find_user", 200),
        ("PUT", f"/api/v2/users/{alice.id}", 200),
        ("GET", "/api/v2/nowhere", 404),
    ]
    assert records[0].query == "page=2" and records[0].headers["proxy-authorization"] == REDACTED
    assert records[1].headers["apikey"] == REDACTED
    assert records[2].body_size == len(b'{"kudos":3}')
    assert all(r.duration >= 0 and r.time > 0 for r in records)
    text = repr(records) + str([r.as_dict() for r in records])
    assert alice.api_key not in text and admin.api_key not in text and "secret-passkey" not in text


def test_filter_by_method_path_pattern_and_status(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice, bob = horde_sandbox_users.sandbox, horde_sandbox_users.alice, horde_sandbox_users.bob
    with httpx.Client(base_url=sandbox.url) as http:
        http.get(f"/v2/users/{alice.id}")
        http.get(f"/v2/users/{bob.id}")
        http.get("/v2/users/999")
        http.delete(f"/v2/users/{bob.id}")
    log = sandbox.requests
    assert len(log.filter(path="/v2/users/{id}")) == 4
    assert len(log.filter(method="get", path="/v2/users/{id}")) == 3
    assert [r.path for r in log.filter(path=f"/api/v2/users/{bob.id}")] == [f"/api/v2/users/{bob.id}"] * 2
    assert [r.path for r in log.filter(status=404)] == ["/api/v2/users/999"]
    with pytest.raises(ValueError, match="does not serve"):
        log.filter(path="/v2/nothing")


@pytest.mark.horde_sandbox(rate_limits=True)
def test_rate_limited_answers_are_logged_too(horde_sandbox_users: SandboxUsers) -> None:
    sandbox, alice = horde_sandbox_users.sandbox, horde_sandbox_users.alice
    with httpx.Client() as http:
        for _ in range(61):
            http.get(f"{sandbox.url}/v2/users/{alice.id}")
    assert [r.status for r in sandbox.requests][-2:] == [200, 429]


def test_the_log_is_bounded_and_keeps_the_newest() -> None:
    log = RequestLog(max_entries=3)
    for n in range(5):
        log.append(RequestRecord(float(n), "GET", "/api/v2/users", "", 200, 0.0, (), 0))
    assert [r.time for r in log] == [2.0, 3.0, 4.0]
    assert log.total == 5
    assert [r.time for r in log.since(3)[0]] == [3.0, 4.0]
    log.clear()
    assert len(log) == 0 and log.total == 0
