"""Reading the language model's answer (rooms.transcripts.scribe): the schema's shape or a
clear failure, citations only of the visit's own segments."""

import json

import pytest

from rooms.transcripts.scribe import RESPONSE_FORMAT, SECTIONS, DraftAnswerError, draft_note_read


def answer(**sections) -> str:
    return json.dumps(
        {name: sections.get(name, {"text": "", "cited_segments": []}) for name in SECTIONS}
    )


def test_sections_and_citations_come_out_trimmed():
    content = answer(subjective={"text": "  Headaches for two weeks. ", "cited_segments": [2, 3]})
    sections, cited = draft_note_read(content, segment_ids={1, 2, 3})
    assert sections == {
        "subjective": "Headaches for two weeks.",
        "objective": "",
        "assessment": "",
        "plan": "",
    }
    assert cited["subjective"] == [2, 3]


def test_a_citation_of_no_segment_of_the_visit_is_dropped():
    content = answer(plan={"text": "Blood test.", "cited_segments": [9, 3, 3, True, "4", 99]})
    _, cited = draft_note_read(content, segment_ids={1, 3, 9})  # True is not segment 1
    assert cited["plan"] == [3, 9]


def test_a_section_given_as_plain_text_is_still_taken():
    content = json.dumps({name: "said" for name in SECTIONS})
    sections, cited = draft_note_read(content, segment_ids={1})
    assert sections["plan"] == "said" and cited["plan"] == []


@pytest.mark.parametrize(
    "content",
    [
        "Subjective: headaches",  # prose, not JSON
        "[1, 2]",  # JSON, not an object
        json.dumps({"subjective": {"text": "x", "cited_segments": []}}),  # sections missing
        answer(plan={"text": "x", "cited_segments": "3"}),  # citations not a list
    ],
)
def test_an_answer_that_is_not_a_draft_is_refused_clearly(content):
    with pytest.raises(DraftAnswerError):
        draft_note_read(content, segment_ids={1, 2, 3})


def test_the_schema_asks_for_every_section_strictly():
    schema = RESPONSE_FORMAT["json_schema"]["schema"]
    assert RESPONSE_FORMAT["json_schema"]["strict"] is True
    assert schema["required"] == list(SECTIONS) and schema["additionalProperties"] is False
