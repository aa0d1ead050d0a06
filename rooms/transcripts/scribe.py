"""The AI scribe's conversation with the language model: the prompt that gives it the visit's
transcript (each segment numbered, so the draft can cite it), the JSON schema its answer must
follow (Chat Completions' response_format json_schema, strict), and the reading of that answer.

Pure: no database, no network (rooms.transcripts.services.draft_notes does those).
"""

import json
from collections.abc import Iterable

from rooms.transcripts.exports import segment_said, segment_speaker_label
from rooms.transcripts.models import TranscriptSegment

SECTIONS = ("subjective", "objective", "assessment", "plan")
MAX_SECTION_CHARS = 8000

SYSTEM_PROMPT = (
    "You are a medical scribe. From the transcript of a clinic visit between a doctor and a "
    "patient, draft the doctor's SOAP note: Subjective (what the patient reports), Objective "
    "(findings and measurements said in the visit), Assessment (the doctor's stated "
    "impressions) and Plan (what the doctor said will be done). Write only what the transcript "
    "supports; never invent findings, doses or diagnoses; leave a section empty when the "
    "transcript says nothing for it. Each transcript line starts with its segment number in "
    "brackets: for each section, list in cited_segments the numbers of the lines it is drawn "
    "from. The doctor will review every section before anything enters the record."
)

_SECTION_SCHEMA = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "cited_segments": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["text", "cited_segments"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "soap_note_draft",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {name: _SECTION_SCHEMA for name in SECTIONS},
            "required": list(SECTIONS),
            "additionalProperties": False,
        },
    },
}


class DraftAnswerError(ValueError):
    """The model's answer is not a draft note (not JSON, or not the schema's shape)."""


def draft_note_messages(*, visit_title: str, segments: Iterable[TranscriptSegment]) -> list[dict]:
    lines = [
        f"[{segment.pk}] {segment_speaker_label(segment)} ({segment.speaker_role or 'unknown'}):"
        f" {segment_said(segment)}"
        for segment in segments
    ]
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Visit: {visit_title}\nTranscript:\n" + "\n".join(lines)},
    ]


def draft_note_read(content: str, *, segment_ids: set[int]) -> tuple[dict, dict]:
    """(sections, cited_segments) from the model's answer. A cited number that is not one of
    the visit's segments is dropped: a model may misremember one, and a link to nothing helps
    nobody."""
    try:
        answer = json.loads(content)
    except ValueError as error:
        raise DraftAnswerError(f"The language model's answer is not JSON ({error}).") from None
    if not isinstance(answer, dict):
        raise DraftAnswerError("The language model's answer is not a JSON object.")
    sections: dict[str, str] = {}
    cited: dict[str, list[int]] = {}
    for name in SECTIONS:
        part = answer.get(name)
        if isinstance(part, str):  # a model that flattened the section still said something
            part = {"text": part, "cited_segments": []}
        if not isinstance(part, dict) or not isinstance(part.get("text", ""), str):
            raise DraftAnswerError(f"The language model's answer has no {name} section.")
        sections[name] = part.get("text", "").strip()[:MAX_SECTION_CHARS]
        numbers = part.get("cited_segments") or []
        if not isinstance(numbers, list):
            raise DraftAnswerError(f"The {name} section's cited_segments is not a list.")
        cited[name] = sorted(
            {n for n in numbers if isinstance(n, int) and not isinstance(n, bool)} & segment_ids
        )
    return sections, cited
