"""The local engine on the synthetic clinic dialogue, after an Opus round trip (what a browser's
received track carries). Bounds are the word error rates measured here plus a margin."""

import itertools

import pytest

from rooms.transcripts.engines.base import Final
from rooms.transcripts.engines.local import MODEL_SHA256, LocalEngine, ModelMismatch
from tests.transcripts.dialogue import DOCTOR, PATIENT, opus_round_trip, word_error_rate

FRAME = 640  # 20 ms, as the doctor's page sends

# Measured streaming WER after Opus 24 kbit/s: doctor 0.00-0.02, patient ~0.12 (espeak's female
# voice is the harder one for tiny.en).
WER_BOUND = {DOCTOR: 0.08, PATIENT: 0.22}


def stream_through(engine, options, pcm: bytes):
    stream = engine.open_stream(options)
    events = []
    for at in range(0, len(pcm), FRAME):
        events += stream.feed(pcm[at : at + FRAME])
    return events, stream.finish()


@pytest.mark.parametrize("speaker", [DOCTOR, PATIENT])
def test_streaming_gives_one_final_per_turn_within_the_measured_word_error_rate(
    local_engine, options, dialogue, speaker
):
    pcm = opus_round_trip(dialogue.side_pcm(speaker))
    events, at_finish = stream_through(local_engine, options, pcm)
    finals = [event for event in events if isinstance(event, Final)]
    turns = dialogue.turns_of(speaker)

    assert at_finish == []  # every turn ended in the silence after it
    assert len(finals) == len(turns)
    for final, turn in zip(finals, turns, strict=True):
        assert abs(final.start_ms - turn.start_ms) < 400
        assert abs(final.end_ms - turn.end_ms) < 400
    hypothesis = " ".join(final.text for final in finals)
    assert word_error_rate(dialogue.reference(speaker), hypothesis) <= WER_BOUND[speaker]


def test_finish_gives_the_turn_still_under_way(local_engine, options, dialogue):
    events, at_finish = stream_through(local_engine, options, dialogue.turn_pcm[2])

    assert not [event for event in events if isinstance(event, Final)]
    assert len(at_finish) == 1
    assert word_error_rate(dialogue.turns[2].text, at_finish[0].text) <= 0.2


def test_silence_gives_nothing(local_engine, options):
    events, at_finish = stream_through(local_engine, options, b"\0" * 32_000 * 5)

    assert events == [] and at_finish == []


def test_a_whole_recording_is_transcribed_with_times(local_engine, options, dialogue):
    pcm = opus_round_trip(dialogue.side_pcm(DOCTOR))

    finals = local_engine.transcribe(pcm, options)

    assert finals
    assert all(a.end_ms <= b.start_ms for a, b in itertools.pairwise(finals))
    assert finals[-1].end_ms <= dialogue.duration_ms
    hypothesis = " ".join(final.text for final in finals)
    assert word_error_rate(dialogue.reference(DOCTOR), hypothesis) <= 0.15


def test_a_model_that_is_not_the_pinned_one_is_refused():
    with pytest.raises(ModelMismatch, match="refusing"):
        LocalEngine(model_sha256="0" * 64)
    assert MODEL_SHA256.startswith("1a5afae0")
