"""The openai-realtime engine end to end through the stand-in: 16 kHz speech in, its words out
as Finals with times from the server's VAD; partial text on the way; a recording's turns."""

import time

import numpy as np
import pytest
from conftest import FIRST, KEY, MAX_WER, SECOND, words_error

from clinic.integrations.openai.errors import OpenAIError
from rooms.transcripts.engines.base import SAMPLE_RATE, EngineOptions, Final, Partial
from rooms.transcripts.engines.openai_realtime import OpenAIRealtimeEngine
from standins.openai.testkit import spoken

pytestmark = pytest.mark.slow

CHUNK = SAMPLE_RATE * 2 // 50  # 20 ms, as the page sends it


def engine(standin, file_model="gpt-4o-transcribe", api_key=KEY):
    return OpenAIRealtimeEngine(standin.base_url, api_key, "gpt-4o-transcribe", file_model)


def feed_all(stream, pcm: bytes) -> list:
    events = []
    for start in range(0, len(pcm), CHUNK):
        events += stream.feed(pcm[start : start + CHUNK])
    return events


def test_a_stream_gives_each_turns_words_and_times(fresh_standin, two_turns):
    stream = engine(fresh_standin).open_stream(EngineOptions(prompt="blood pressure"))
    events = feed_all(stream, two_turns)
    deadline = time.monotonic() + 20
    # silence keeps coming from the page: the transcripts arrive through feed(), unasked
    while sum(isinstance(e, Final) for e in events) < 2 and time.monotonic() < deadline:
        events += stream.feed(bytes(CHUNK))
        time.sleep(0.02)
    events += stream.finish()
    finals = [e for e in events if isinstance(e, Final)]
    assert len(finals) == 2, finals
    assert words_error(FIRST, finals[0].text) <= MAX_WER, finals
    assert words_error(SECOND, finals[1].text) <= MAX_WER, finals
    first_ms = len(two_turns) // 2 // 16  # audio length in ms
    one, two = finals
    assert 0 <= one.start_ms < 400 < one.end_ms < two.start_ms < two.end_ms <= first_ms
    assert one.end_ms - one.start_ms > 2000
    # the first sentence's speech ends 300 ms + its length in: the end is the speech's, not
    # the end of the silence that closed the turn
    samples = np.abs(np.frombuffer(spoken(FIRST), dtype="<i2"))
    spoken_end_ms = int(np.nonzero(samples > 300)[0][-1]) // 16
    assert abs(one.end_ms - spoken_end_ms) < 300, (one, spoken_end_ms)
    assert any(isinstance(e, Partial) and e.text for e in events)
    (request,) = fresh_standin.requests()
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["events"][0]["session"]["audio"]["input"]["transcription"]["prompt"] == (
        "blood pressure"
    )
    # resampled to 24 kHz: half as many bytes again as fed
    assert request["audio_bytes"] >= len(two_turns) * 3 // 2 * 0.99


def test_finish_commits_a_turn_still_under_way(fresh_standin):
    stream = engine(fresh_standin).open_stream(EngineOptions())
    events = feed_all(stream, spoken(FIRST, silence_after_ms=0))
    finals = [e for e in events + stream.finish() if isinstance(e, Final)]
    assert len(finals) == 1 and words_error(FIRST, finals[0].text) <= MAX_WER, finals
    kinds = [e["type"] for e in fresh_standin.requests()[0]["events"]]
    assert "input_audio_buffer.commit" in kinds


def test_finish_after_silence_only_gives_nothing(fresh_standin):
    stream = engine(fresh_standin).open_stream(EngineOptions())
    feed_all(stream, bytes(SAMPLE_RATE * 2))
    assert stream.finish() == []


def test_a_wrong_key_fails_the_stream_at_once(fresh_standin):
    with pytest.raises(OpenAIError):
        engine(fresh_standin, api_key="sk-wrong-1234567").open_stream(EngineOptions())


@pytest.mark.parametrize("file_model", ["gpt-4o-transcribe", "whisper-1"])
def test_a_recording_is_transcribed_turn_by_turn(fresh_standin, two_turns, file_model):
    finals = engine(fresh_standin, file_model).transcribe(two_turns, EngineOptions())
    assert len(finals) == 2, finals
    assert words_error(FIRST, finals[0].text) <= MAX_WER
    assert words_error(SECOND, finals[1].text) <= MAX_WER
    assert finals[0].start_ms < finals[0].end_ms < finals[1].start_ms < finals[1].end_ms
    assert all(r["headers"]["Authorization"] == f"Bearer {KEY}" for r in fresh_standin.requests())


def test_it_is_built_from_the_plain_values_the_pool_passes(fresh_standin):
    # rooms.transcripts.pool.engine_settings("openai-realtime"): keyword arguments, no Django
    built = OpenAIRealtimeEngine(
        base_url=fresh_standin.base_url, api_key=KEY, model="gpt-4o-mini-transcribe"
    )
    stream = built.open_stream(EngineOptions())
    assert stream.finish() == []
    session = fresh_standin.requests()[0]["events"][0]["session"]
    assert session["audio"]["input"]["transcription"]["model"] == "gpt-4o-mini-transcribe"
