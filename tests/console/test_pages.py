"""The console's pages over real HTTP against a real sandbox: roles, refusals, journal, undo, bulk, search."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import httpx

from horde_users.console.server import ConsoleServer
from tests.console.conftest import World, csrf_of, login, start_console


def change(client: httpx.Client, user_id: int, step: str, **fields: str) -> httpx.Response:
    csrf = csrf_of(client.get("/bulk").text)  # a page that always has a form
    data = {"csrf_token": csrf, "action": "modify", **fields}
    return client.post(f"/users/{user_id}/{step}", data=data)


def sync(client: httpx.Client) -> None:
    csrf = csrf_of(client.get("/").text)
    response = client.post("/sync", data={"csrf_token": csrf})
    assert response.status_code == 303
    job_id = response.headers["location"].rsplit("/", 1)[1]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = client.get(f"/jobs/{job_id}").json()
        if state["status"] != "running":
            assert state["status"] == "finished", state
            return
        time.sleep(0.2)
    raise AssertionError("the sync did not finish")


def test_a_plain_key_gets_owner_fields_on_its_own_account_and_none_elsewhere(
    world: World, tmp_path: Path
) -> None:
    server = start_console(world, tmp_path, world.plain.api_key)
    try:
        with login(server) as client:
            own = client.get(f"/users/{world.plain.id}").text
            assert 'name="f_contact"' in own
            assert 'name="f_username"' in own
            assert 'name="f_trusted"' not in own
            other = client.get(f"/users/{world.target.id}").text
            assert "may not change this account" in other
            # a forged field the role does not allow is ignored, not sent
            response = change(client, world.target.id, "apply", f_trusted="true", reason="sneaky")
            assert response.status_code == 400
            assert "Nothing to change" in response.text
    finally:
        server.stop()
    assert world.account(world.target.id)["trusted"] is False


def test_admin_fields_only_with_the_admin_setting(world: World, tmp_path: Path) -> None:
    server = start_console(world, tmp_path, world.moderator.api_key, admin=True)
    try:
        with login(server) as client:
            assert 'name="f_kudos"' in client.get(f"/users/{world.target.id}").text
            # the moderator is not an admin on this server: the refusal is shown and journaled
            response = change(client, world.target.id, "apply", f_kudos="100", reason="bonus")
            assert response.status_code == 409
            assert "NotAdmin" in response.text
            journal = client.get("/journal?outcome=refused").text
            assert "NotAdmin" in journal
    finally:
        server.stop()
    assert world.account(world.target.id)["kudos"] == 0


def test_moderators_do_not_see_admin_fields_by_default(browser_client: httpx.Client, world: World) -> None:
    page = browser_client.get(f"/users/{world.target.id}").text
    assert 'name="f_trusted"' in page
    assert 'name="f_kudos"' not in page


def test_review_sends_nothing_and_apply_is_journaled(browser_client: httpx.Client, world: World) -> None:
    review = change(browser_client, world.target.id, "review", f_concurrency="42", reason="load test")
    assert review.status_code == 200
    assert "Confirm changes" in review.text
    assert world.account(world.target.id)["concurrency"] == 30
    applied = change(browser_client, world.target.id, "apply", f_concurrency="42", reason="load test")
    assert applied.status_code == 303
    assert world.account(world.target.id)["concurrency"] == 42
    entry_id = applied.headers["location"].rsplit("=", 1)[1]
    entry = browser_client.get(f"/journal/{entry_id}").text
    assert "load test" in entry
    assert "concurrency" in entry


def test_a_change_needs_a_reason(browser_client: httpx.Client, world: World) -> None:
    response = change(browser_client, world.target.id, "apply", f_concurrency="42", reason="")
    assert response.status_code == 400
    assert "Reason" in response.text
    assert world.account(world.target.id)["concurrency"] == 30


def test_journal_filters_and_exports(browser_client: httpx.Client, world: World) -> None:
    change(browser_client, world.target.id, "apply", f_flagged="true", reason="first")
    change(browser_client, world.plain.id, "apply", f_flagged="true", reason="second")
    by_user = browser_client.get(f"/journal?user={world.plain.id}").text
    assert "second" in by_user
    assert "first" not in by_user
    everything = browser_client.get("/journal?actor=modo").text
    assert "first" in everything
    assert "2 entries." in everything
    assert "No journal entries match" in browser_client.get("/journal?actor=nobody").text
    assert browser_client.get("/journal?since=yesterday").status_code == 400
    assert "first" not in browser_client.get("/journal?since=2999-01-01").text

    lines = browser_client.get(f"/export/journal.jsonl?user={world.target.id}").text.splitlines()
    assert [json.loads(line)["reason"] for line in lines] == ["first"]
    rows = list(csv.DictReader(io.StringIO(browser_client.get("/export/journal.csv").text)))
    assert [row["reason"] for row in rows] == ["first", "second"]


def test_undo_explains_why_it_cannot(browser_client: httpx.Client, world: World) -> None:
    applied = change(browser_client, world.target.id, "apply", f_reset_suspicion="true", reason="clean slate")
    entry_id = applied.headers["location"].rsplit("=", 1)[1]
    page = browser_client.get(f"/journal/{entry_id}/undo")
    assert "cannot be undone" in page.text
    assert "reset_suspicion removed the suspicion records for good" in page.text
    assert 'action="/journal/' not in page.text  # no form to send it
    csrf = csrf_of(browser_client.get("/bulk").text)
    posted = browser_client.post(f"/journal/{entry_id}/undo", data={"csrf_token": csrf, "reason": "try it"})
    assert posted.status_code == 409
    assert "reset_suspicion" in posted.text


def test_undo_needs_a_reason_and_then_reverses(browser_client: httpx.Client, world: World) -> None:
    applied = change(browser_client, world.target.id, "apply", f_trusted="true", reason="vetted")
    entry_id = applied.headers["location"].rsplit("=", 1)[1]
    csrf = csrf_of(browser_client.get(f"/journal/{entry_id}/undo").text)
    refused = browser_client.post(f"/journal/{entry_id}/undo", data={"csrf_token": csrf, "reason": ""})
    assert refused.status_code == 400
    assert world.account(world.target.id)["trusted"] is True
    done = browser_client.post(f"/journal/{entry_id}/undo", data={"csrf_token": csrf, "reason": "mistake"})
    assert done.status_code == 303
    assert world.account(world.target.id)["trusted"] is False


def upload(client: httpx.Client, name: str, content: str, reason: str = "") -> httpx.Response:
    csrf = csrf_of(client.get("/bulk").text)
    return client.post(
        "/bulk",
        data={"csrf_token": csrf, "reason": reason},
        files={"file": (name, content.encode(), "text/plain")},
    )


def test_bulk_lists_every_row_error_and_sends_nothing(browser_client: httpx.Client, world: World) -> None:
    content = "\n".join(
        [
            json.dumps({"user_id": world.target.id, "concurrency": 900, "reason": "x"}),
            json.dumps({"user_id": "abc", "trusted": True}),
            json.dumps({"user_id": world.plain.id, "trusted": True, "reason": "fine"}),
        ]
    )
    response = upload(browser_client, "changes.jsonl", content)
    assert response.status_code == 400
    assert "row 1" in response.text
    assert "row 2" in response.text
    assert "/apply" not in response.text
    assert world.account(world.plain.id)["trusted"] is False


def test_bulk_needs_a_reason_for_other_accounts(browser_client: httpx.Client, world: World) -> None:
    response = upload(browser_client, "changes.csv", f"user_id,trusted\n{world.target.id},true\n")
    assert response.status_code == 400
    assert "reason is required" in response.text
    planned = upload(browser_client, "changes.csv", f"user_id,trusted\n{world.target.id},true\n", "cleanup")
    assert planned.status_code == 200
    assert "Apply 1 row" in planned.text


def test_bulk_upload_needs_a_file(browser_client: httpx.Client) -> None:
    csrf = csrf_of(browser_client.get("/bulk").text)
    response = browser_client.post(
        "/bulk", data={"csrf_token": csrf}, files={"file": ("", b"", "text/plain")}
    )
    assert response.status_code == 400
    assert "Choose a CSV or JSON Lines file" in response.text


def test_bulk_apply_of_an_unknown_upload_is_refused(browser_client: httpx.Client) -> None:
    csrf = csrf_of(browser_client.get("/bulk").text)
    response = browser_client.post("/bulk/../../etc/apply", data={"csrf_token": csrf})
    assert response.status_code in (400, 404)
    response = browser_client.post(f"/bulk/{'a' * 24}/apply", data={"csrf_token": csrf})
    assert response.status_code == 400
    assert "unknown upload" in response.text


def test_search_pages_sorts_and_exports(browser_client: httpx.Client, world: World) -> None:
    for number in range(30):
        world.sandbox.create_user(f"bulkuser{number:02d}", kudos=number)
    sync(browser_client)
    first = browser_client.get("/?q=bulkuser&sort=name").text
    assert first.index("bulkuser00#") < first.index("bulkuser24#")
    assert "bulkuser25#" not in first
    assert 'rel="next"' in first
    second = browser_client.get("/?q=bulkuser&sort=name&page=2").text
    assert "bulkuser25#" in second
    assert 'rel="next"' not in second
    reverse = browser_client.get("/?q=bulkuser&sort=name&reverse=1").text
    assert reverse.index("bulkuser29#") < reverse.index("bulkuser05#")
    assert 'aria-sort="descending"' in reverse

    exported = browser_client.get("/export/users.csv?q=bulkuser&min_kudos=20")
    assert exported.headers["content-disposition"].endswith('horde-users.csv"')
    names = sorted(row["username"] for row in csv.DictReader(io.StringIO(exported.text)))
    assert names == [f"bulkuser{n}#{world.target.id + 1 + n}" for n in range(20, 30)]
    lines = browser_client.get("/export/users.jsonl?q=bulkuser29").text.splitlines()
    assert [json.loads(line)["username"] for line in lines] == [f"bulkuser29#{world.target.id + 30}"]


def test_search_explains_bad_filters(browser_client: httpx.Client) -> None:
    assert "Min kudos: a number" in browser_client.get("/?min_kudos=lots").text
    assert "Older than: an age" in browser_client.get("/?older_than=forever").text
    assert "min kudos is above max kudos" in browser_client.get("/?min_kudos=5&max_kudos=1").text


def test_hostile_names_are_escaped_in_search_and_journal(browser_client: httpx.Client, world: World) -> None:
    sync(browser_client)
    change(browser_client, world.hostile.id, "apply", f_flagged="true", reason="<script>alert(2)</script>")
    for page in (browser_client.get("/?q=img").text, browser_client.get("/journal").text):
        assert "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
        assert "<script>alert(2)" not in page


def test_job_progress_endpoint(console: ConsoleServer, browser_client: httpx.Client) -> None:
    assert browser_client.get("/jobs/nope").status_code == 404
    sync(browser_client)
    job = console.console.jobs.latest("sync")
    assert job is not None
    state = browser_client.get(f"/jobs/{job.id}").json()
    assert state["status"] == "finished"
    assert state["done"] == state["total"] == 1


def test_an_unknown_user_and_an_unreachable_server_are_explained(world: World, tmp_path: Path) -> None:
    server = start_console(world, tmp_path, world.moderator.api_key)
    try:
        with login(server) as client:
            missing = client.get("/users/999999")
            assert missing.status_code == 404
            assert "No such user" in missing.text
            assert client.get("/users/abc").status_code == 404
            world.sandbox.stop()
            gone = client.get(f"/users/{world.target.id}")
            assert gone.status_code == 503
            assert "Cannot reach the server" in gone.text
            assert world.moderator.api_key not in gone.text
            assert client.get("/journal").status_code == 200  # local pages still work
    finally:
        server.stop()
