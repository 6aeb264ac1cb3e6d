"""Every client command against a real sandbox: tables for people, JSON that parses into the models."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from horde_users.models import (
    DeleteUserResponse,
    ModifyUserResponse,
    UserDetailsResponse,
)
from horde_users.sandbox import SeededUser
from tests.cli.conftest import Cli, Seeded, one_error_line

# --- whoami ------------------------------------------------------------------------------------------


def test_whoami_table_shows_the_key_owner(cli: Cli, seeded: Seeded) -> None:
    result = cli("whoami", key=seeded.alice.api_key)
    assert result.exit_code == 0, result.stderr
    assert seeded.alice.alias in result.stdout
    assert "kudos" in result.stdout
    assert "300" in result.stdout


def test_whoami_json_parses_into_user_details(cli: Cli, seeded: Seeded) -> None:
    result = cli("--json", "whoami", key=seeded.alice.api_key)
    assert result.exit_code == 0, result.stderr
    user = UserDetailsResponse.model_validate(json.loads(result.stdout))
    assert user.username == seeded.alice.alias
    assert user.id_ == seeded.alice.id
    assert user.sharedkey_ids == []  # own view


def test_whoami_without_a_key_is_anonymous(cli: Cli) -> None:
    result = cli("--json", "whoami")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["username"] == "Anonymous#0"


def test_json_option_also_works_after_the_command(cli: Cli, seeded: Seeded) -> None:
    result = cli("whoami", "--json", key=seeded.bob.api_key)
    assert json.loads(result.stdout)["id"] == seeded.bob.id


# --- user show ---------------------------------------------------------------------------------------


def test_show_anonymously_has_only_public_fields(cli: Cli, seeded: Seeded) -> None:
    result = cli("--json", "user", "show", str(seeded.alice.id))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["username"] == seeded.alice.alias
    assert "suspicious" not in data and "sharedkey_ids" not in data
    UserDetailsResponse.model_validate(data)


def test_show_by_a_moderator_has_privileged_fields(cli: Cli, seeded: Seeded) -> None:
    result = cli("--json", "user", "show", str(seeded.alice.id), key=seeded.moderator.api_key)
    data = json.loads(result.stdout)
    assert data["suspicious"] == 0
    assert "monthly_kudos" in data and "evaluating_kudos" in data
    table = cli("user", "show", str(seeded.alice.id), key=seeded.moderator.api_key)
    assert "suspicious" in table.stdout
    assert "monthly kudos" in table.stdout


def test_show_accepts_an_alias(cli: Cli, seeded: Seeded) -> None:
    result = cli("--json", "user", "show", seeded.bob.alias)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["id"] == seeded.bob.id


def test_show_table_hides_secrets_unless_asked(cli: Cli, seeded: Seeded) -> None:
    shared = seeded.sandbox.create_shared_key(seeded.alice.alias, "ci")
    hidden = cli("user", "show", str(seeded.alice.id), key=seeded.alice.api_key)
    assert shared not in hidden.stdout
    assert "hidden" in hidden.stdout
    shown = cli("--show-secrets", "user", "show", str(seeded.alice.id), key=seeded.alice.api_key)
    assert shared in shown.stdout
    as_json = cli("--json", "user", "show", str(seeded.alice.id), key=seeded.alice.api_key)
    assert shared in json.loads(as_json.stdout)["sharedkey_ids"]


def test_show_unknown_user_is_refused_with_exit_1(cli: Cli) -> None:
    result = cli("user", "show", "999999")
    assert result.exit_code == 1
    assert one_error_line(result) == "error: UserNotFound (404): User with ID '999999' not found."


# --- user list ---------------------------------------------------------------------------------------


def test_list_table_shows_users_by_kudos(cli: Cli, seeded: Seeded) -> None:
    result = cli("user", "list")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "user", "kudos"]
    assert result.stdout.index(seeded.admin.alias) < result.stdout.index(seeded.alice.alias)
    mia = next(line for line in lines if seeded.moderator.alias in line)
    assert "mod, trusted" in mia


def test_list_json_one_page_is_one_array(cli: Cli, seeded: Seeded) -> None:
    result = cli("--json", "user", "list", "--sort", "age")
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    users = [UserDetailsResponse.model_validate(item) for item in data]
    assert users[0].username == "Anonymous#0"  # oldest first
    assert seeded.admin.alias in [u.username for u in users]


def test_list_all_streams_one_json_object_per_line(cli: Cli, seeded: Seeded) -> None:
    for n in range(30):  # more than one page
        seeded.sandbox.create_user(f"filler{n}", kudos=n)
    result = cli("--json", "user", "list", "--all", "--sort", "age")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) >= 36
    ids = [UserDetailsResponse.model_validate(json.loads(line)).id_ or 0 for line in lines]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    table = cli("user", "list", "--all", "--sort", "age")
    assert table.stdout.count("filler") == 30
    assert table.stdout.splitlines()[0].split()[0] == "id"  # one header, then rows
    assert table.stdout.count("concurrency") == 1


def test_list_limit_caps_the_number_of_users(cli: Cli) -> None:
    result = cli("--json", "user", "list", "--limit", "3")
    assert len(json.loads(result.stdout)) == 3
    lines = cli("--json", "user", "list", "--all", "--limit", "2").stdout.splitlines()
    assert len(lines) == 2


def test_list_rejects_a_bad_sort_and_page_with_exit_2(cli: Cli) -> None:
    assert cli("user", "list", "--sort", "name").exit_code == 2
    assert cli("user", "list", "--page", "0").exit_code == 2


# --- user modify -------------------------------------------------------------------------------------


def test_moderator_trusts_a_user_and_sees_what_changed(
    cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]
) -> None:
    user = fresh()
    result = cli(
        "user",
        "modify",
        str(user.id),
        "--trusted",
        "--concurrency",
        "40",
        "--reason",
        "test",
        key=seeded.moderator.api_key,
    )
    assert result.exit_code == 0, result.stderr
    assert f"Changed user {user.id}" in result.stdout
    assert "trusted" in result.stdout and "yes" in result.stdout
    assert "concurrency" in result.stdout and "40" in result.stdout
    shown = json.loads(cli("--json", "user", "show", str(user.id)).stdout)
    assert shown["trusted"] is True and shown["concurrency"] == 40


def test_admin_grants_kudos_json_parses_into_modify_response(
    cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]
) -> None:
    user = fresh(kudos=100)
    result = cli(
        "--json",
        "user",
        "modify",
        str(user.id),
        "--kudos",
        "50",
        "--reason",
        "test",
        key=seeded.admin.api_key,
    )
    assert result.exit_code == 0, result.stderr
    reply = ModifyUserResponse.model_validate(json.loads(result.stdout))
    assert reply.new_kudos == 150.0


def test_negative_kudos_delta_is_accepted(cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]) -> None:
    user = fresh(kudos=1000)
    result = cli(
        "--json",
        "user",
        "modify",
        str(user.id),
        "--kudos",
        "-100",
        "--reason",
        "test",
        key=seeded.admin.api_key,
    )
    assert json.loads(result.stdout) == {"new_kudos": 900.0}


def test_every_modify_option_reaches_the_server(
    cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]
) -> None:
    """An admin who is also a moderator sends every field at once; the echo reports each one."""
    boss = seeded.sandbox.create_user("boss", admin=True, moderator=True)
    user = fresh()
    args = [
        "--json", "user", "modify", str(user.id),
        "--kudos", "5", "--monthly-kudos", "10", "--usage-multiplier", "2",
        "--moderator", "--concurrency", "50", "--worker-invited", "2",
        "--no-trusted", "--flagged", "--customizer", "--vpn", "--no-service", "--education", "--special",
        "--reset-suspicion", "--admin-comment", "watch this one", "--public-workers",
        "--username", "renamed", "--contact", "mail@example.org", "--reason", "test",
    ]  # fmt: skip
    result = cli(*args, key=boss.api_key)
    assert result.exit_code == 0, result.stderr
    reply = json.loads(result.stdout)
    ModifyUserResponse.model_validate(reply)
    assert reply["monthly_kudos"] == 10 and reply["usage_multiplier"] == 2.0
    assert reply["moderator"] is True and reply["trusted"] is False and reply["flagged"] is True
    assert reply["concurrency"] == 50 and reply["worker_invited"] == 2
    assert reply["customizer"] and reply["vpn"] and reply["education"] and reply["special"]
    assert reply["service"] is False and reply["public_workers"] is True
    assert reply["new_suspicion"] == 0
    assert reply["admin_comment"] == "watch this one"
    assert reply["username"] == "renamed" and reply["contact"] == "mail@example.org"


def test_owner_generates_a_proxy_passkey_and_is_told_who_can_see_it_again(cli: Cli, seeded: Seeded) -> None:
    result = cli(
        "user", "modify", str(seeded.service.id), "--generate-proxy-passkey", key=seeded.service.api_key
    )
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stdout.split())  # the message wraps at the terminal's width
    assert "only this once" not in said  # untrue: a moderator's key shows it again
    assert "only a moderator's key shows it" in said
    assert f"--show-secrets user show {seeded.service.id}" in said
    shown = json.loads(
        cli("--json", "user", "show", str(seeded.service.id), key=seeded.moderator.api_key).stdout
    )
    assert shown["proxy_passkey"] in result.stdout
    table = cli("user", "show", str(seeded.service.id), key=seeded.moderator.api_key)
    assert shown["proxy_passkey"] not in table.stdout
    again = cli("--show-secrets", "user", "show", str(seeded.service.id), key=seeded.moderator.api_key)
    assert shown["proxy_passkey"] in again.stdout  # what the message promises
    owner = json.loads(
        cli("--json", "user", "show", str(seeded.service.id), key=seeded.service.api_key).stdout
    )
    assert "proxy_passkey" not in owner  # and the owner's own view does not have it


def test_ordinary_user_moderator_action_is_refused_with_exit_1(cli: Cli, seeded: Seeded) -> None:
    result = cli(
        "user", "modify", str(seeded.bob.id), "--flagged", "--reason", "test", key=seeded.alice.api_key
    )
    assert result.exit_code == 1
    assert one_error_line(result) == "error: NotModerator (403): You're not a mod. BTFO!"
    assert result.stdout == ""


def test_moderator_granting_kudos_gets_not_admin(cli: Cli, seeded: Seeded) -> None:
    result = cli(
        "user", "modify", str(seeded.bob.id), "--kudos", "5", "--reason", "test", key=seeded.moderator.api_key
    )
    assert result.exit_code == 1
    assert one_error_line(result).startswith("error: NotAdmin (403): ")


def test_partial_change_refusal_hints_to_check(
    cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]
) -> None:
    user = fresh()
    result = cli(
        "user",
        "modify",
        str(user.id),
        "--trusted",
        "--username",
        "x" * 31,
        "--reason",
        "test",
        key=seeded.moderator.api_key,
    )
    assert result.exit_code == 1
    assert one_error_line(result).startswith("error: TooLongUserName (400): ")
    assert "hint:" in result.stderr


def test_values_the_model_rejects_are_usage_errors_in_plain_words(cli: Cli, seeded: Seeded) -> None:
    key = seeded.moderator.api_key
    cases = [
        (["--concurrency", "900"], "error: --concurrency: must be at most 500"),
        (["--usage-multiplier", "20"], "error: --usage-multiplier: must be at most 10"),
        (["--usage-multiplier", "0"], "error: --usage-multiplier: must be at least 0.1"),
        (["--contact", "abc"], "error: --contact: must be at least 5 characters long"),
        (["--username", "ab"], "error: --username: must be at least 3 characters long"),
        (["--kudos", "nan"], "error: --kudos: must be a finite number"),
        (["--monthly-kudos", "99999999999"], "error: --monthly-kudos: must be at most 2147483647"),
    ]
    for options, expected in cases:
        result = cli("user", "modify", str(seeded.bob.id), *options, key=key)
        assert result.exit_code == 2, (options, result.stderr)
        assert one_error_line(result) == expected
        for pydantic_wording in ("Input should", "String should", "Value error", "pydantic.dev"):
            assert pydantic_wording not in result.stderr
    both = cli("user", "modify", str(seeded.bob.id), "--concurrency", "-1", "--admin-comment", "x", key=key)
    assert one_error_line(both) == (
        "error: --concurrency: must be at least 0; --admin-comment: must be at least 5 characters long"
    )


def test_a_custom_model_check_is_shown_without_pydantic_wording() -> None:
    from pydantic import ValidationError

    from horde_users.cli.common import describe_validation_error
    from horde_users.models import ModifyUser

    with pytest.raises(ValidationError) as caught:
        ModifyUser(undelete=False)
    text = describe_validation_error(caught.value)
    assert text == "undelete: the server acts on this field even when it is false: send True or omit it"


def test_modify_without_changes_is_a_usage_error(cli: Cli, seeded: Seeded) -> None:
    result = cli("user", "modify", str(seeded.bob.id), key=seeded.moderator.api_key)
    assert result.exit_code == 2
    assert "nothing to change" in one_error_line(result)


def test_bad_ids_are_usage_errors(cli: Cli) -> None:
    for bad in ("abc", "alice#x", "99999999999", "", "1.5", "3 4"):
        result = cli("user", "show", bad)
        assert result.exit_code == 2, bad
        assert one_error_line(result).startswith("error: invalid user id")
    negative = cli("user", "show", "-1")  # looks like an option: still a usage error, on one line
    assert negative.exit_code == 2
    assert one_error_line(negative) == "error: No such option: -1"


# --- user delete / undelete --------------------------------------------------------------------------


def test_delete_asks_and_declining_deletes_nothing(
    cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]
) -> None:
    user = fresh()
    result = cli("user", "delete", str(user.id), key=seeded.moderator.api_key, input="n\n")
    assert result.exit_code == 4  # declined: its own code, not "the server refused"
    assert "Delete " + user.alias in result.stderr
    assert "wipe the account for good" in result.stderr
    assert "nothing was deleted" in one_error_line(result)
    assert json.loads(cli("--json", "user", "show", str(user.id)).stdout)["deleted"] is False
    no_answer = cli("user", "delete", str(user.id), key=seeded.moderator.api_key)  # stdin at EOF
    assert no_answer.exit_code == 4
    assert json.loads(cli("--json", "user", "show", str(user.id)).stdout)["deleted"] is False


def test_delete_confirmed_then_undelete(cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]) -> None:
    user = fresh()
    result = cli(
        "user", "delete", str(user.id), "--reason", "test", key=seeded.moderator.api_key, input="y\n"
    )
    assert result.exit_code == 0, result.stderr
    assert f"Deleted user {user.id}" in result.stdout
    assert json.loads(cli("--json", "user", "show", str(user.id)).stdout)["deleted"] is True
    again = cli("user", "delete", str(user.id), key=seeded.moderator.api_key, input="n\n")
    assert "ALREADY deleted" in again.stderr and "WIPES" in again.stderr
    undone = cli("--json", "user", "undelete", str(user.id), "--reason", "test", key=seeded.moderator.api_key)
    assert undone.exit_code == 0, undone.stderr
    assert ModifyUserResponse.model_validate(json.loads(undone.stdout)).undeleted is True
    assert json.loads(cli("--json", "user", "show", str(user.id)).stdout)["deleted"] is False


def test_delete_yes_skips_the_question_and_json_parses(
    cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]
) -> None:
    user = fresh()
    result = cli("--json", "user", "delete", str(user.id), "--yes", key=user.api_key)
    assert result.exit_code == 0, result.stderr
    assert DeleteUserResponse.model_validate(json.loads(result.stdout)).message == "OK"
    table = cli("user", "undelete", str(user.id), key=user.api_key)
    assert table.exit_code == 0 and f"Undeleted user {user.id}" in table.stdout


def test_delete_refusals_exit_1(cli: Cli, seeded: Seeded) -> None:
    other = cli("user", "delete", str(seeded.bob.id), "--yes", "--reason", "test", key=seeded.alice.api_key)
    assert other.exit_code == 1
    assert one_error_line(other).startswith("error: NotUserOrMod (403): ")
    mod = cli(
        "user", "delete", str(seeded.moderator.id), "--yes", "--reason", "test", key=seeded.admin.api_key
    )
    assert one_error_line(mod).startswith("error: CannotDeleteMod (403): ")
    not_deleted = cli("user", "undelete", str(seeded.bob.id), key=seeded.bob.api_key)
    assert one_error_line(not_deleted) == "error: UserNotDeleted (400): User is not deleted, cannot undelete!"


def test_key_and_confirmation_both_from_stdin(
    cli: Cli, seeded: Seeded, fresh: Callable[..., SeededUser]
) -> None:
    user = fresh()
    result = cli(
        "--api-key",
        "-",
        "user",
        "delete",
        str(user.id),
        "--reason",
        "test",
        input=f"{seeded.moderator.api_key}\ny\n",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(cli("--json", "user", "show", str(user.id)).stdout)["deleted"] is True
