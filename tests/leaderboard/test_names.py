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
        ("line\nbreak", "U+000A"),
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
    with pytest.raises(ValueError, match="empty"):
        clean_name(" \u3000 ")


def test_homoglyphs_share_a_skeleton() -> None:
    # Cyrillic а, a non-breaking hyphen and capitals look like the plain Latin name.
    assert skeleton("GPT\u20114 \u0430gent") == skeleton("gpt-4 agent")
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
