"""The pytest plugin (``pytest11`` entry point): fixtures a user's own test suite gets by installing us."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]


def run_inner(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    """Run ``source`` as a test file in a fresh pytest session (plugins autoloaded, as for a user)."""
    pytester.makepyfile(test_inner=textwrap.dedent(source))
    return pytester.runpytest("--strict-markers", "-p", "no:cacheprovider", *args)


USERS_SUITE = """
import httpx
import pytest


def test_horde_sandbox_is_a_running_sandbox_without_rate_limits(horde_sandbox):
    assert horde_sandbox.url.startswith("http://127.0.0.1:")
    assert horde_sandbox.url.endswith("/api")
    response = httpx.get(f"{horde_sandbox.url}/v2/users")
    assert response.status_code == 200
    assert response.json()[0]["username"] == "Anonymous#0"
    assert "x-ratelimit-limit" not in response.headers


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_a_fresh_sandbox(horde_sandbox, run):
    assert horde_sandbox.create_user("someone").id == 1


@pytest.mark.horde_sandbox(rate_limits=True, admins=["root#1"])
def test_the_marker_passes_options_to_the_sandbox(horde_sandbox):
    root = horde_sandbox.create_user("root")
    response = httpx.put(
        f"{horde_sandbox.url}/v2/users/{root.id}", json={"kudos": 5}, headers={"apikey": root.api_key}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"new_kudos": 25.0}
    assert response.headers["x-ratelimit-limit"] == "60"
    assert response.headers["x-ratelimit-remaining"] == "59"


@pytest.mark.horde_sandbox(rate_limits=True, test_user_endpoint=True)
class TestClosestMarkerWins:
    def test_class_options(self, horde_sandbox):
        response = httpx.post(f"{horde_sandbox.url}/v2/dev/test-user", json={"username": "ci"})
        assert response.status_code == 201
        assert response.headers["x-ratelimit-limit"] == "90"

    @pytest.mark.horde_sandbox(rate_limits=False)
    def test_function_overrides(self, horde_sandbox):
        response = httpx.post(f"{horde_sandbox.url}/v2/dev/test-user", json={"username": "ci"})
        assert response.status_code == 201
        assert "x-ratelimit-limit" not in response.headers


def test_horde_sandbox_users_seeds_an_admin_a_moderator_and_two_users(horde_sandbox_users):
    users = horde_sandbox_users
    url = users.url
    assert url == users.sandbox.url
    assert [u.alias for u in (users.admin, users.moderator, users.alice, users.bob)] == [
        "admin#1", "moderator#2", "alice#3", "bob#4"
    ]
    assert users.alice.api_key not in repr(users)

    found = httpx.get(f"{url}/v2/find_user", headers={"apikey": users.bob.api_key}).json()
    assert found["username"] == "bob#4"

    mod_view = httpx.get(f"{url}/v2/users/3", headers={"apikey": users.moderator.api_key}).json()
    assert "evaluating_kudos" in mod_view
    assert mod_view["moderator"] is False

    grant = httpx.put(f"{url}/v2/users/3", json={"kudos": 100}, headers={"apikey": users.admin.api_key})
    assert grant.json() == {"new_kudos": 100.0}
    refused = httpx.put(f"{url}/v2/users/3", json={"kudos": 100}, headers={"apikey": users.moderator.api_key})
    assert refused.json()["rc"] == "NotAdmin"
    mine = httpx.put(f"{url}/v2/users/4", json={"trusted": True}, headers={"apikey": users.bob.api_key})
    assert mine.json()["rc"] == "NotModerator"


def test_a_plain_test_is_unaffected():
    assert True
"""


def test_the_fixtures_in_a_users_own_suite(pytester: pytest.Pytester) -> None:
    result = run_inner(pytester, USERS_SUITE, "-v")
    result.assert_outcomes(passed=8)


def test_the_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.horde_sandbox(**options)*"])


def test_positional_marker_arguments_are_refused(pytester: pytest.Pytester) -> None:
    result = run_inner(
        pytester,
        """
        import pytest

        @pytest.mark.horde_sandbox(True)
        def test_it(horde_sandbox):
            pass
        """,
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*takes keyword options only*"])


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, horde_users.sandbox.pytest_plugin\n"
        "names = ('fastapi', 'starlette', 'uvicorn', 'sqlalchemy', 'httpx')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print(heavy)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_the_sandbox_extra_only_tests_using_a_fixture_fail_with_the_hint(
    pytester: pytest.Pytester,
) -> None:
    from tests.blocked_imports import write_blocker

    write_blocker(pytester.path)  # pytester puts its folder first on the subprocess's PYTHONPATH
    pytester.makepyfile(
        test_inner="""
        def test_with_a_sandbox(horde_sandbox):
            pass

        def test_without(request):
            assert request.config.pluginmanager.has_plugin("horde_users")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.re_match_lines([r"horde_sandbox: .*pip install 'horde-users\[sandbox\]'$"])
    result.stdout.no_fnmatch_line("*another exception*")
