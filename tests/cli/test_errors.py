"""Exit codes for each failure class, one clear stderr line, and the API key never shown."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.cli.conftest import CannedServer, Cli, Seeded, one_error_line

USER_3 = {"username": "canned#3", "id": 3}
"""What a canned server answers to reads: the key's own account, so a change needs no reason."""

# --- 1: the server refused ---------------------------------------------------------------------------


def test_unknown_key_on_find_user_is_refused_and_redacted(cli: Cli) -> None:
    secret = "not-a-real-key-1234567"
    result = cli("whoami", key=secret)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line == "error: UserNotFound (404): User with api_key '<redacted>' not found."
    assert secret not in result.stdout + result.stderr


def test_invalid_key_is_refused_with_exit_1(cli: Cli, seeded: Seeded) -> None:
    result = cli("user", "show", str(seeded.alice.id), key="wrongwrongwrongwrong12")
    assert result.exit_code == 1
    assert one_error_line(result).startswith("error: InvalidAPIKey (401): ")


def test_rate_limited_after_retries_is_exit_1_with_retry_after(
    cli: Cli, canned: Callable[..., CannedServer]
) -> None:
    server = canned(429, {"message": "60 per 1 minute"}, {"Retry-After": "3600"})
    result = cli("user", "show", "3", AI_HORDE_URL=server.url)
    assert result.exit_code == 1
    assert one_error_line(result) == "error: 429: rate limited, retry after 3600 s (60 per 1 minute)"


def test_validation_error_without_rc_shows_the_field(cli: Cli, canned: Callable[..., CannedServer]) -> None:
    body = {
        "errors": {"concurrency": "501 is greater than the maximum of 500"},
        "message": "Input payload validation failed",
    }
    server = canned(400, body, reads=USER_3)
    result = cli("user", "modify", "3", "--concurrency", "5", AI_HORDE_URL=server.url, key="k" * 22)
    assert result.exit_code == 1
    assert one_error_line(result) == "error: 400: concurrency: 501 is greater than the maximum of 500"


def test_html_error_page_from_a_proxy_is_one_line(cli: Cli, canned: Callable[..., CannedServer]) -> None:
    server = canned(404, b"<html><body><h1>Not Found</h1></body></html>")
    result = cli("user", "show", "3", AI_HORDE_URL=server.url)
    assert result.exit_code == 1
    assert one_error_line(result).startswith("error: 404: ")


# --- 2: usage ----------------------------------------------------------------------------------------


def test_unknown_option_and_missing_argument_are_exit_2(cli: Cli) -> None:
    assert one_error_line(cli("user", "show")) == "error: Missing argument 'ID'."
    assert one_error_line(cli("user", "show", "3", "--bogus")) == "error: No such option: --bogus"
    assert one_error_line(cli("frobnicate")) == "error: No such command 'frobnicate'."
    for result in (cli("user", "show"), cli("--timeout", "soon", "whoami")):
        assert result.exit_code == 2
        assert "hint: see 'horde-users" in result.stderr


def test_a_group_alone_shows_its_help(cli: Cli) -> None:
    for args in ((), ("user",), ("sandbox",)):
        result = cli(*args)
        assert result.exit_code == 2
        assert "Usage: horde-users" in result.stdout


def test_a_url_without_http_is_a_usage_error(cli: Cli) -> None:
    result = cli("--url", "localhost:7001/api", "whoami")
    assert result.exit_code == 2
    assert "must start with http:// or https://" in one_error_line(result)


def test_empty_key_on_stdin_is_a_usage_error(cli: Cli) -> None:
    result = cli("--api-key", "-", "whoami", input="\n")
    assert result.exit_code == 2
    assert "no API key on standard input" in one_error_line(result)


# --- 3: unreachable, timeout, unknown outcome --------------------------------------------------------


def test_unreachable_server_is_exit_3(cli: Cli, closed_url: str) -> None:
    result = cli("user", "show", "3", AI_HORDE_URL=closed_url)
    assert result.exit_code == 3
    assert one_error_line(result).startswith(f"error: cannot reach {closed_url}")
    assert "hint:" in result.stderr


def test_timeout_is_exit_3(cli: Cli, silent_url: str) -> None:
    result = cli("--timeout", "0.3", "user", "show", "3", AI_HORDE_URL=silent_url)
    assert result.exit_code == 3
    assert one_error_line(result).startswith("error: timed out")


def test_timeout_on_a_kudos_change_is_an_unknown_outcome(
    cli: Cli, canned: Callable[..., CannedServer]
) -> None:
    key = "secretsecretsecret1234"
    server = canned(200, {"new_kudos": 5.0}, reads=USER_3, delay=2)  # reads answer, the change never does
    result = cli("--timeout", "0.3", "user", "modify", "3", "--kudos", "5", AI_HORDE_URL=server.url, key=key)
    assert result.exit_code == 3
    assert one_error_line(result).startswith("error: outcome unknown")
    assert "user show 3" in result.stderr  # says what to check
    assert key not in result.stdout + result.stderr


def test_bad_gateway_on_delete_is_an_unknown_outcome(cli: Cli, canned: Callable[..., CannedServer]) -> None:
    server = canned(502, b"<html>Bad Gateway</html>", reads=USER_3)
    result = cli("user", "delete", "3", "--yes", AI_HORDE_URL=server.url, key="k" * 22)
    assert result.exit_code == 3
    assert one_error_line(result).startswith("error: outcome unknown")
    assert server.requests == 1  # a DELETE is never repeated


# --- configuration and secrets -----------------------------------------------------------------------


def test_api_key_from_stdin(cli: Cli, seeded: Seeded) -> None:
    result = cli("--json", "--api-key", "-", "whoami", input=seeded.bob.api_key + "\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["id"] == seeded.bob.id


def test_option_beats_environment(cli: Cli, seeded: Seeded, closed_url: str) -> None:
    result = cli(
        "--json", "--url", seeded.url, "--api-key", seeded.alice.api_key, "whoami",
        key=seeded.bob.api_key, AI_HORDE_URL=closed_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["id"] == seeded.alice.id


def test_key_given_as_an_option_never_appears_in_errors(cli: Cli, closed_url: str) -> None:
    key = "anothersecretkey123456"
    result = cli("--api-key", key, "user", "modify", "3", "--kudos", "1", AI_HORDE_URL=closed_url)
    assert result.exit_code == 3
    assert key not in result.stdout + result.stderr


def test_a_server_message_echoing_the_key_is_redacted(cli: Cli, canned: Callable[..., CannedServer]) -> None:
    key = "echoedsecretkey1234567"
    server = canned(403, {"message": f"key {key} may not do this", "rc": "NotModerator"}, reads=USER_3)
    result = cli("--api-key", key, "user", "modify", "3", "--trusted", AI_HORDE_URL=server.url)
    assert result.exit_code == 1
    assert one_error_line(result) == "error: NotModerator (403): key <redacted> may not do this"
