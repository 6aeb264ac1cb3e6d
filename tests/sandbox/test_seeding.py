"""Seed files: Sandbox(seed=...) creates the users with their keys; export writes the same format."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from horde_users.sandbox import Sandbox


def _listing(sandbox: Sandbox) -> list[dict[str, object]]:
    """The public listing without ``account_age``, which moves with real time between two sandboxes."""
    return [
        {k: v for k, v in u.items() if k != "account_age"}
        for u in httpx.get(f"{sandbox.url}/v2/users").json()
    ]


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_seed_file_creates_users_with_their_plain_keys(tmp_path: Path) -> None:
    seed = _write(
        tmp_path / "seed.json",
        {
            "users": [
                {"username": "alice", "api_key": "alice-key-000000000000", "kudos": 120},
                {
                    "username": "mod",
                    "id": 7,
                    "moderator": True,
                    "admin": True,
                    "created": "2026-01-01T00:00:00",
                },
            ]
        },
    )
    with Sandbox(seed=seed) as sandbox:
        found = httpx.get(f"{sandbox.url}/v2/find_user", headers={"apikey": "alice-key-000000000000"}).json()
        assert (found["username"], found["kudos"]) == ("alice#1", 120)
        mod = httpx.get(f"{sandbox.url}/v2/users/7").json()
        assert mod["moderator"] is True and mod["trusted"] is True
        assert sandbox.store.admin_aliases() >= {"mod#7"}


def test_export_then_seed_recreates_users_and_hashed_keys(tmp_path: Path) -> None:
    exported = tmp_path / "export.json"
    with Sandbox() as first:
        alice = first.create_user("alice", kudos=5)
        first.create_user("boss", admin=True, moderator=True)
        first.export(exported)
        before = _listing(first)
    document = json.loads(exported.read_text())
    assert document["users"][0]["api_key"] == alice.api_key and "api_key_hash" in document["users"][0]
    for entry in document["users"]:
        entry.pop("api_key")  # keep only the hashes: the salt makes them valid in the new database
    _write(exported, document)
    with Sandbox(seed=exported) as second:
        assert _listing(second) == before
        found = httpx.get(f"{second.url}/v2/find_user", headers={"apikey": alice.api_key})
        assert found.json()["id"] == alice.id
        assert httpx.get(f"{second.url}/v2/find_user", headers={"apikey": "0000000000"}).status_code == 200
        again = tmp_path / "again.json"
        second.export(again)
        assert "api_key" not in json.loads(again.read_text())["users"][0]  # not known in plain here


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ([], '"users" list'),
        ({"users": [{"kudos": 3}]}, "username"),
        ({"users": [{"username": "a", "colour": "red"}]}, "unknown field(s) colour"),
        ({"users": [{"username": "a", "api_key": "k", "api_key_hash": "h"}]}, "not both"),
        ({"users": [{"username": "a", "api_key_hash": "h"}]}, "salt"),
        ({"users": [{"username": "a", "created": "yesterday"}]}, "ISO date"),
        ({"users": [{"username": "a", "id": 0}]}, "anonymous"),
        ({"format": "other/2", "users": []}, "unknown seed format"),
    ],
)
def test_a_bad_seed_file_is_a_clear_value_error(tmp_path: Path, document: object, words: str) -> None:
    seed = _write(tmp_path / "bad.json", document)
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        Sandbox(seed=seed).start()


def test_a_seed_file_that_is_not_json_or_missing(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        Sandbox(seed=tmp_path / "broken.json").start()
    with pytest.raises(ValueError, match="cannot read"):
        Sandbox(seed=tmp_path / "missing.json").start()
