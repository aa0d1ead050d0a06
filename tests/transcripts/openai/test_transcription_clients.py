"""The realtime and file transcription clients against the stand-in."""

import pytest
from conftest import FIRST, KEY, MAX_WER, SECOND, words_error

from clinic.integrations.openai.audio import transcribe_file, wav_bytes
from clinic.integrations.openai.errors import OpenAIError
from clinic.integrations.openai.realtime import (
    RealtimeTranscription,
    TranscriptionSettings,
    realtime_url,
)

pytestmark = pytest.mark.slow


def test_the_realtime_url_follows_the_base_urls_scheme():
    assert realtime_url("https://api.openai.com/v1") == (
        "wss://api.openai.com/v1/realtime?intent=transcription"
    )
    assert realtime_url("http://127.0.0.1:9/v1/") == (
        "ws://127.0.0.1:9/v1/realtime?intent=transcription"
    )


def test_connect_configures_a_transcription_session(fresh_standin):
    settings = TranscriptionSettings(
        model="gpt-4o-transcribe", language="en", prompt="lisinopril, metformin"
    )
    session = RealtimeTranscription(base_url=fresh_standin.base_url, api_key=KEY, settings=settings)
    effective = session.connect()
    session.close()
    audio_input = effective["audio"]["input"]
    assert audio_input["transcription"] == {
        "model": "gpt-4o-transcribe",
        "language": "en",
        "prompt": "lisinopril, metformin",
    }
    assert audio_input["turn_detection"]["type"] == "server_vad"
    assert audio_input["noise_reduction"] == {"type": "near_field"}
    assert audio_input["format"] == {"type": "audio/pcm", "rate": 24000}
    (request,) = fresh_standin.requests()
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["events"][0]["session"] == settings.session()


def test_a_wrong_key_is_an_openai_error_with_status_401(fresh_standin):
    session = RealtimeTranscription(
        base_url=fresh_standin.base_url,
        api_key="sk-wrong-00000",
        settings=TranscriptionSettings(model="gpt-4o-transcribe"),
    )
    with pytest.raises(OpenAIError) as failure:
        session.connect()
    assert failure.value.status == 401


def test_an_unreachable_service_is_an_openai_error(unused_tcp_port):
    session = RealtimeTranscription(
        base_url=f"http://127.0.0.1:{unused_tcp_port}/v1",
        api_key=KEY,
        settings=TranscriptionSettings(model="gpt-4o-transcribe"),
    )
    with pytest.raises(OpenAIError, match="unreachable"):
        session.connect()


def test_file_transcription_with_whisper_1_has_segment_times(fresh_standin, two_turns):
    transcript = transcribe_file(
        base_url=fresh_standin.base_url,
        api_key=KEY,
        model="whisper-1",
        audio=wav_bytes(two_turns, 16_000),
        timeout=60,
    )
    assert words_error(f"{FIRST} {SECOND}", transcript.text) <= MAX_WER, transcript.text
    assert len(transcript.segments) >= 2
    assert transcript.segments[0].start < 1.0 < transcript.segments[-1].start
    (request,) = fresh_standin.requests()
    assert request["form"]["response_format"] == "verbose_json"
    assert request["form"]["timestamp_granularities[]"] == "segment"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"


def test_file_transcription_with_a_gpt_4o_model_asks_for_json(fresh_standin, two_turns):
    transcript = transcribe_file(
        base_url=fresh_standin.base_url,
        api_key=KEY,
        model="gpt-4o-transcribe",
        audio=wav_bytes(two_turns, 16_000),
        language="en",
        prompt="blood pressure",
        timeout=60,
    )
    assert words_error(f"{FIRST} {SECOND}", transcript.text) <= MAX_WER
    assert transcript.segments == ()
    form = fresh_standin.requests()[0]["form"]
    assert form["response_format"] == "json" and form["prompt"] == "blood pressure"
