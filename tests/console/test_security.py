"""The console's defences over real HTTP: login token, session cookie, CSRF, Host, headers, escaping."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from horde_users.console.security import Gatekeeper
from horde_users.console.server import ConsoleServer, is_loopback
from tests.console.conftest import HOSTILE_NAME, World, csrf_of, login, start_console


def test_pages_need_a_session(console: ConsoleServer) -> None:
    with httpx.Client(base_url=console.url) as anonymous:
        for path in ("/", "/users/1", "/journal", "/bulk"):
            response = anonymous.get(path)
            assert response.status_code == 401, path
            assert "Log in" in response.text
        assert anonymous.get("/jobs/abc").status_code == 401


def test_the_login_token_becomes_an_httponly_strict_session_cookie(console: ConsoleServer) -> None:
    token = console.console.gatekeeper.login_token
    assert token
    with httpx.Client(base_url=console.url) as client:
        response = client.get(f"/users/2?token={token}")
        assert response.status_code == 303
        assert response.headers["location"] == "/users/2"  # the token leaves the address bar
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"horde_console_{console.port}=")
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        session_id = cookie.split(";")[0].split("=", 1)[1]
        assert session_id != token
        assert client.get("/users/2").status_code == 200


def test_the_login_token_works_once(console: ConsoleServer) -> None:
    first_url = console.login_url
    with login(console):
        pass
    assert console.console.gatekeeper.login_token is None
    with httpx.Client() as other:
        response = other.get(first_url)
        assert response.status_code == 401
        assert "set-cookie" not in response.headers


def test_a_wrong_token_gives_no_session(console: ConsoleServer) -> None:
    with httpx.Client(base_url=console.url) as client:
        response = client.get("/?token=not-the-token")
        assert response.status_code == 401
        assert "set-cookie" not in response.headers
    assert console.console.gatekeeper.login_token is not None  # still usable by its owner


def test_a_made_up_session_cookie_is_refused(console: ConsoleServer) -> None:
    cookies = {console.console.gatekeeper.cookie_name: "guessed-session-id"}
    with httpx.Client(base_url=console.url, cookies=cookies) as client:
        assert client.get("/").status_code == 401


def test_posts_without_the_csrf_token_change_nothing(
    console: ConsoleServer, browser_client: httpx.Client, world: World
) -> None:
    change = {"action": "modify", "f_trusted": "true", "reason": "csrf test"}
    target = world.target.id
    for data in (change, {**change, "csrf_token": "forged"}):
        for step in ("review", "apply"):
            response = browser_client.post(f"/users/{target}/{step}", data=data)
            assert response.status_code == 403, (step, data)
            assert "CSRF" in response.text
    assert world.account(target)["trusted"] is False


def test_posts_from_another_origin_are_refused_even_with_the_token(
    console: ConsoleServer, browser_client: httpx.Client, world: World
) -> None:
    csrf = csrf_of(browser_client.get(f"/users/{world.target.id}").text)
    data = {"csrf_token": csrf, "action": "modify", "f_trusted": "true", "reason": "origin test"}
    for headers in ({"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"}):
        response = browser_client.post(f"/users/{world.target.id}/apply", data=data, headers=headers)
        assert response.status_code == 403
    assert world.account(world.target.id)["trusted"] is False
    response = browser_client.post(
        f"/users/{world.target.id}/apply", data=data, headers={"origin": console.url}
    )
    assert response.status_code == 303
    assert world.account(world.target.id)["trusted"] is True


def test_a_csrf_token_belongs_to_its_session(world: World, tmp_path: Path) -> None:
    server = start_console(world, tmp_path, world.moderator.api_key)
    try:
        with login(server) as client:
            csrf = csrf_of(client.get(f"/users/{world.target.id}").text)
        # a second session (a new login token, as after a restart of the same console) gets its own
        token = "second-login-token-for-this-test"
        server.console.gatekeeper._login_token = token
        with httpx.Client(base_url=server.url) as other:
            assert other.get(f"/?token={token}").status_code == 303
            data = {"csrf_token": csrf, "action": "modify", "f_flagged": "true", "reason": "other session"}
            assert other.post(f"/users/{world.target.id}/apply", data=data).status_code == 403
    finally:
        server.stop()
    assert world.account(world.target.id)["flagged"] is False


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "127.0.0.2:{port}"])
def test_foreign_host_headers_are_refused(console: ConsoleServer, host: str) -> None:
    with httpx.Client(base_url=console.url) as client:
        response = client.get(console.login_url, headers={"host": host.format(port=console.port)})
        assert response.status_code == 421
        assert "set-cookie" not in response.headers
    assert console.console.gatekeeper.login_token is not None


def test_localhost_and_the_ip_both_work(console: ConsoleServer) -> None:
    with httpx.Client() as client:
        response = client.get(f"{console.url}/", headers={"host": f"localhost:{console.port}"})
        assert response.status_code == 401  # answered (not 421): it just needs a session


def test_every_response_carries_the_security_headers(
    console: ConsoleServer, browser_client: httpx.Client
) -> None:
    for path in ("/", "/users/1", "/static/console.css", "/nope"):
        response = browser_client.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_a_hostile_username_is_shown_as_text(browser_client: httpx.Client, world: World) -> None:
    page = browser_client.get(f"/users/{world.hostile.id}").text
    assert HOSTILE_NAME not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_the_api_key_never_reaches_the_browser(
    console: ConsoleServer, browser_client: httpx.Client, world: World
) -> None:
    key = world.moderator.api_key
    assert key not in console.login_url
    seen: list[httpx.Response] = []
    for path in ("/", f"/users/{world.moderator.id}", f"/users/{world.target.id}", "/journal", "/bulk"):
        seen.append(browser_client.get(path))
    csrf = csrf_of(seen[2].text)
    data = {"csrf_token": csrf, "action": "modify", "f_contact": "someone@example.org", "reason": "key test"}
    seen.append(browser_client.post(f"/users/{world.target.id}/review", data=data))
    seen.append(browser_client.post(f"/users/{world.target.id}/apply", data=data, follow_redirects=True))
    for response in seen:
        assert key not in response.text
        assert key not in str(response.url)
        assert all(key not in value for value in response.headers.values())
    assert all(key not in value for value in browser_client.cookies.values())
    assert key not in repr(console.console)


def test_gatekeeper_hosts_are_its_own_port_only() -> None:
    gatekeeper = Gatekeeper(port=8123)
    assert gatekeeper.host_allowed("127.0.0.1:8123")
    assert gatekeeper.host_allowed("LOCALHOST:8123")
    assert not gatekeeper.host_allowed("127.0.0.1")
    assert not gatekeeper.host_allowed("127.0.0.1:8124")
    assert not gatekeeper.host_allowed(None)


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.10")
