"""Agent names: normalized, no hidden characters, none posing as another submitter's."""

import json
import re

import pytest
from pydantic import ValidationError

from palaestra.leaderboard.names import clean_name, skeleton
from palaestra.leaderboard.schema import AgentInfo
from tests.leaderboard.conftest import SMALL, Board


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("GPT-4 agent \u202egnp.exe", "U+202E"),  # right-to-left override
        ("a\u200bb", "U+200B"),  # zero-width space
        ("alice\u3164", "U+1160"),  # a Hangul filler: draws nothing
        ("alice\u2800", "U+2800"),  # a blank braille pattern
        ("a\u034fb", "U+034F"),  # combining grapheme joiner
        ("bell\x07", "U+0007"),
        ("iso\u2066late", "U+2066"),  # left-to-right isolate
        ("private\ue000", "U+E000"),
    ],
)
def test_hidden_characters_are_refused(name: str, code: str) -> None:
    with pytest.raises(ValueError, match=re.escape(code)):
        clean_name(name)
    with pytest.raises(ValidationError, match=re.escape(code)):
        AgentInfo(name=name, spec="random")


def test_names_are_nfkc_normalized_and_trimmed() -> None:
    assert clean_name("  ｒａｎｄｏｍ\u00a0") == "random"  # full-width letters, no-break space
    assert AgentInfo(name="ﬁne-tuned", spec="x").name == "fine-tuned"  # the fi ligature
    assert clean_name("alice \n\t bot") == "alice bot"  # whitespace runs: one space
    with pytest.raises(ValueError, match="no letter or digit"):
        clean_name(" \u3000 ")
    with pytest.raises(ValueError, match="no letter or digit"):
        clean_name("\u0301")  # a lone combining mark
    with pytest.raises(ValueError, match="more than 2 marks"):
        clean_name("q" + "\u0301\u0302\u0303\u0304\u0305")  # stacked marks ("Zalgo")
    assert clean_name("Vi\u1ec7t") == "Việt"  # two marks on a letter are language
    with pytest.raises(ValueError, match="3600 characters once normalized"):
        clean_name("\ufdfa" * 200)  # one character expands to eighteen


def test_homoglyphs_share_a_skeleton() -> None:
    # Cyrillic а, a non-breaking hyphen and capitals look like the plain Latin name.
    assert skeleton("GPT\u20114 \u0430gent") == skeleton("gpt-4 agent")
    assert skeleton("aIice") == skeleton("alice") == skeleton("a1ice")  # I, l and 1
    assert skeleton("alice  bot") == skeleton("alice bot") == skeleton("alicebot")
    assert skeleton("random") != skeleton("randoms")


def test_a_lookalike_of_another_submitters_name_is_refused(
    board: Board, results_bytes: bytes
) -> None:
    data = json.loads(results_bytes)
    data["agent"]["name"] = "GPT-4 agent"
    assert board.post(json.dumps(data)).status_code == 202
    bob = board.new_token("bob")
    for k, lookalike in enumerate(("GPT-4 \u0430gent", "gpt-4 agent", "GPT-4 agent")):
        data["agent"]["name"] = lookalike
        data["agent"]["description"] = f"attempt {k}"  # a new file each time
        response = board.post(json.dumps(data), token=bob)
        assert response.status_code == 409
        assert "looks like 'GPT-4 agent', which another submitter uses" in response.json()["detail"]
    # The name's owner may use it again; others choose their own.
    data["agent"]["name"] = "GPT-4 \u0430gent"
    assert board.post(json.dumps(data)).status_code == 202
    data["agent"]["name"] = "bob's agent"
    assert board.post(json.dumps(data), token=bob).status_code == 202


def test_each_row_shows_who_submitted_it(board: Board, results_bytes: bytes) -> None:
    row = board.post(results_bytes).json()
    assert row["submitter"] == "alice"
    board.verify_all()
    assert board.client.get(f"/api/leaderboard/{SMALL.id}").json()[0]["submitter"] == "alice"
    page = board.client.get("/").text
    assert "by alice" in page


def test_lookalike_names_sent_at_once_get_one_owner(board: Board, results_bytes: bytes) -> None:
    # The check runs under the write lock: six tokens racing with lookalikes of one name
    # leave exactly one owner.
    import threading

    data = json.loads(results_bytes)
    bodies = []
    for k, name in enumerate(
        ["Bob", "bob", "B\u043eb", "\U0001d41b\U0001d428\U0001d41b", "BOB", "b0b"]
    ):
        data["agent"]["name"], data["agent"]["description"] = name, str(k)
        bodies.append((json.dumps(data), board.new_token(f"racer {k}")))
    codes: list[int] = []

    def send(body: str, token: str) -> None:
        codes.append(board.post(body, token=token).status_code)

    threads = [threading.Thread(target=send, args=pair) for pair in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [202, 409, 409, 409, 409, 409]
