"""A rubric as written by a QA lead (the editor's rows or an API body) is checked as
plain data: every problem names its place, and what is accepted comes back cleaned."""

from __future__ import annotations

import math

import pytest

from app.scorecards.rubric import (
    DEFAULT_WEIGHT,
    KEY_MESSAGE,
    MAX_QUESTIONS,
    WEIGHT_MESSAGE,
    fingerprint,
    normalise_sections,
    parse_weight,
)


def _question(key: str = "policy_applied", **extra) -> dict:
    return {"key": key, "text": "Was the policy applied?", **extra}


def test_a_valid_rubric_comes_back_trimmed_with_defaults():
    cleaned, problems = normalise_sections(
        [{"title": "  Policy ", "questions": [_question(text=" Applied? ", guidance=None)]}]
    )
    assert problems == []
    assert cleaned == [
        {
            "title": "Policy",
            "questions": [
                {
                    "key": "policy_applied",
                    "text": "Applied?",
                    "guidance": "",
                    "weight": DEFAULT_WEIGHT,
                    "critical": False,
                    "allow_na": True,
                }
            ],
        }
    ]


def test_every_problem_names_its_place():
    _, problems = normalise_sections(
        [
            {"title": "A", "questions": [_question("Bad Key"), _question("ok", weight="0")]},
            {"title": "a", "questions": [_question("ok", critical="yes")]},
            {"title": "", "questions": []},
            "not a section",
        ]
    )
    assert {p["field"]: p["message"] for p in problems} == {
        "sections[0].questions[0].key": KEY_MESSAGE,
        "sections[0].questions[1].weight": WEIGHT_MESSAGE,
        "sections[1].title": "Another section is already titled “a”.",
        "sections[1].questions[0].key": "The key ok is already used by another question.",
        "sections[1].questions[0].critical": "Give true or false.",
        "sections[2].title": "A section title is required.",
        "sections[2].questions": "A section needs at least one question.",
        "sections[3]": "Each section must be an object.",
    }


def test_too_many_questions_is_one_problem_on_the_whole_rubric():
    questions = [_question(f"q{n}") for n in range(MAX_QUESTIONS + 1)]
    _, problems = normalise_sections([{"title": "All", "questions": questions}])
    assert [p["field"] for p in problems] == ["sections"]


def test_a_rubric_must_be_a_list():
    assert normalise_sections({"title": "x"}) == (
        [],
        [{"field": "sections", "message": "Give a list of sections."}],
    )


@pytest.mark.parametrize(
    ("raw", "weight"),
    [
        (None, DEFAULT_WEIGHT),
        ("", DEFAULT_WEIGHT),
        ("2,5", 2.5),
        (3, 3.0),
        (100, 100.0),
        (0, None),
        (100.5, None),
        (True, None),
        ("nan", None),
        ("inf", None),
        ("heavy", None),
        ([1], None),
    ],
)
def test_weights(raw, weight):
    assert parse_weight(raw) == weight
    if weight is not None:
        assert math.isfinite(weight)


def test_the_fingerprint_follows_the_content_only():
    rubric = [{"title": "A", "questions": [{"key": "k", "weight": 1.0}]}]
    same = [{"questions": [{"weight": 1.0, "key": "k"}], "title": "A"}]
    assert fingerprint(rubric) == fingerprint(same)
    assert fingerprint(rubric) != fingerprint([{"title": "B", "questions": []}])
