"""The OpenAI stand-in follows OpenAI's API (docs/openai.md): the key in the Authorization
header only, the Realtime transcription session's event sequence, error events on bad input
(the session stays open), the file transcription formats, Chat Completions' shape. Spoken over
real sockets to the stand-in running as its own process, with raw clients (not ours)."""

import base64
import json

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from standins.openai.testkit import running_standin, spoken
from standins.openai.testkit import word_error_rate as words_error

pytestmark = pytest.mark.slow

KEY = "sk-standin-test-0123456789"
SENTENCE = "Are you still taking the medicine for your blood pressure?"


@pytest.fixture(scope="module")
def standin():
    with running_standin(api_key=KEY) as running:
        yield running


@pytest.fixture(scope="module")
def speech_24k() -> bytes:
    return spoken(SENTENCE, rate=24_000)


def ws_url(standin, query="intent=transcription"):
    return standin.base_url.replace("http://", "ws://") + f"/realtime?{query}"


def open_session(standin, **session_input):
    ws = connect(
        ws_url(standin), additional_headers={"Authorization": f"Bearer {KEY}"}
    ).__enter__()  # closed by each test (ws.close())
    created = json.loads(ws.recv(timeout=10))
    assert created["type"] == "session.created"
    audio_input = {
        "format": {"type": "audio/pcm", "rate": 24000},
        "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
        **session_input,
    }
    send(
        ws,
        {
            "type": "session.update",
            "session": {"type": "transcription", "audio": {"input": audio_input}},
        },
    )
    updated = json.loads(ws.recv(timeout=10))
    assert updated["type"] == "session.updated", updated
    return ws, updated["session"]


def send(ws, event):
    ws.send(json.dumps(event))


def append(ws, pcm: bytes, chunk: int = 960):
    for start in range(0, len(pcm), chunk):
        send(
            ws,
            {
                "type": "input_audio_buffer.append",
                "audio": base64.b64encode(pcm[start : start + chunk]).decode(),
            },
        )


def events_until(ws, kind: str, timeout: float = 30):
    seen = []
    while True:
        event = json.loads(ws.recv(timeout=timeout))
        seen.append(event)
        if event["type"] == kind:
            return seen


# --- the key -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/chat/completions", "/audio/transcriptions"])
def test_without_the_key_in_the_authorization_header_it_is_401_with_openais_error_body(
    standin, path
):
    url = standin.base_url + path
    missing = requests.post(url, json={}, timeout=10)
    wrong = requests.post(
        url, json={}, headers={"Authorization": "Bearer sk-wrong-key-1234"}, timeout=10
    )
    in_query = requests.post(url, params={"api_key": KEY}, json={}, timeout=10)
    not_bearer = requests.post(url, json={}, headers={"Authorization": KEY}, timeout=10)
    for response in (missing, wrong, in_query, not_bearer):
        assert response.status_code == 401
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert KEY not in wrong.text and "sk-wrong-key-1234" not in wrong.text  # masked


def test_the_realtime_socket_with_a_wrong_key_says_invalid_api_key_and_closes(standin):
    with connect(
        ws_url(standin), additional_headers={"Authorization": "Bearer sk-nope-98765"}
    ) as ws:
        event = json.loads(ws.recv(timeout=10))
        assert event["type"] == "error"
        assert event["error"]["code"] == "invalid_api_key"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 3000


# --- realtime transcription session ----------------------------------------------------------


def test_a_spoken_turn_gives_openais_event_sequence_and_its_words(standin, speech_24k):
    ws, session = open_session(standin, noise_reduction={"type": "near_field"})
    assert session["type"] == "transcription"
    assert session["audio"]["input"]["transcription"]["model"] == "gpt-4o-transcribe"
    assert session["audio"]["input"]["noise_reduction"] == {"type": "near_field"}
    append(ws, speech_24k)
    seen = events_until(ws, "conversation.item.input_audio_transcription.completed")
    kinds = [e["type"] for e in seen]
    deltas = [e for e in seen if e["type"].endswith("transcription.delta")]
    kinds = [k for k in kinds if not k.endswith("transcription.delta")]
    assert kinds == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.input_audio_transcription.completed",
    ]
    started, stopped, committed, added, _done, completed = (
        e for e in seen if not e["type"].endswith("transcription.delta")
    )
    item = started["item_id"]
    assert stopped["item_id"] == committed["item_id"] == completed["item_id"] == item
    assert added["item"]["id"] == item and added["item"]["role"] == "user"
    assert all(e["item_id"] == item and e["content_index"] == 0 for e in deltas)
    assert "".join(e["delta"] for e in deltas).strip() == completed["transcript"]
    # 300 ms of silence lead the speech, 300 ms of prefix padding: it starts near 0
    assert 0 <= started["audio_start_ms"] <= 300
    assert stopped["audio_end_ms"] > started["audio_start_ms"] + 2000
    assert words_error(SENTENCE, completed["transcript"]) <= 0.25, completed["transcript"]
    assert completed["usage"]["type"] in ("tokens", "duration")
    assert all(isinstance(e["event_id"], str) for e in seen)
    ws.close()


def test_without_turn_detection_a_commit_makes_the_turn(standin, speech_24k):
    ws, session = open_session(standin, turn_detection=None)
    assert session["audio"]["input"]["turn_detection"] is None
    append(ws, speech_24k)
    send(ws, {"type": "input_audio_buffer.commit"})
    seen = events_until(ws, "conversation.item.input_audio_transcription.completed")
    kinds = {e["type"] for e in seen}
    assert "input_audio_buffer.speech_started" not in kinds
    assert seen[0]["type"] == "input_audio_buffer.committed"
    assert words_error(SENTENCE, seen[-1]["transcript"]) <= 0.25
    ws.close()


def test_bad_input_gets_error_events_and_the_session_stays_open(standin):
    ws, _session = open_session(standin)

    def error_for(raw: str) -> dict:
        ws.send(raw)
        event = json.loads(ws.recv(timeout=10))
        assert event["type"] == "error", event
        assert set(event["error"]) >= {"type", "code", "message", "param", "event_id"}
        return event["error"]

    assert error_for("{not json")["code"] == "invalid_json"
    unknown = error_for(json.dumps({"type": "response.dance", "event_id": "evt_1"}))
    assert unknown["param"] == "type" and unknown["event_id"] == "evt_1"
    rate = error_for(
        json.dumps(
            {
                "type": "session.update",
                "event_id": "evt_2",
                "session": {
                    "type": "transcription",
                    "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}},
                },
            }
        )
    )
    assert rate["param"] == "session.audio.input.format.rate" and rate["event_id"] == "evt_2"
    beta = error_for(
        json.dumps(
            {
                "type": "session.update",
                "session": {"type": "transcription", "input_audio_format": "pcm16"},
            }
        )
    )
    assert beta["code"] == "unknown_parameter"
    model = error_for(
        json.dumps(
            {
                "type": "session.update",
                "session": {
                    "type": "transcription",
                    "audio": {"input": {"transcription": {"model": "gpt-9"}}},
                },
            }
        )
    )
    assert model["param"] == "session.audio.input.transcription.model"
    assert (
        error_for(json.dumps({"type": "input_audio_buffer.append", "audio": "%%%"}))["param"]
        == "audio"
    )
    assert (
        error_for(json.dumps({"type": "input_audio_buffer.commit"}))["code"]
        == "input_audio_buffer_commit_empty"
    )
    send(ws, {"type": "input_audio_buffer.clear"})
    assert json.loads(ws.recv(timeout=10))["type"] == "input_audio_buffer.cleared"
    ws.close()


def test_a_socket_without_intent_transcription_is_refused_with_an_error_event(standin):
    with connect(
        ws_url(standin, "model=gpt-realtime"), additional_headers={"Authorization": f"Bearer {KEY}"}
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "error"


def test_the_request_log_keeps_the_events_without_the_audio(standin, speech_24k):
    standin.forget_requests()
    ws, _ = open_session(standin)
    append(ws, speech_24k[:48_000])
    ws.close()
    (entry,) = standin.requests()
    assert entry["path"] == "/v1/realtime" and entry["query"] == {"intent": "transcription"}
    assert entry["headers"]["Authorization"] == f"Bearer {KEY}"
    assert [e["type"] for e in entry["events"]] == ["session.update"]
    assert entry["audio_bytes"] == 48_000 and entry["appends"] == 50


# --- file transcription ----------------------------------------------------------------------


def wav_file() -> bytes:
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(spoken(SENTENCE, rate=16_000))
    return out.getvalue()


@pytest.fixture(scope="module")
def wav() -> bytes:
    return wav_file()


def transcription(standin, wav, **fields):
    data = {"model": "whisper-1", **fields}
    return requests.post(
        standin.base_url + "/audio/transcriptions",
        headers={"Authorization": f"Bearer {KEY}"},
        data=data,
        files={"file": ("visit.wav", wav, "audio/wav")},
        timeout=60,
    )


def test_file_transcription_answers_each_response_format(standin, wav):
    plain = transcription(standin, wav, response_format="json")
    assert plain.status_code == 200 and set(plain.json()) == {"text", "usage"}
    assert words_error(SENTENCE, plain.json()["text"]) <= 0.25
    text = transcription(standin, wav, response_format="text")
    assert text.headers["Content-Type"].startswith("text/plain")
    assert text.text.strip() == plain.json()["text"]
    verbose = transcription(
        standin,
        wav,
        response_format="verbose_json",
        **{"timestamp_granularities[]": ["segment", "word"]},
    ).json()
    assert verbose["task"] == "transcribe" and verbose["language"] == "english"
    assert 3 < verbose["duration"] < 8
    segment = verbose["segments"][0]
    assert {
        "id",
        "seek",
        "start",
        "end",
        "text",
        "tokens",
        "temperature",
        "avg_logprob",
        "compression_ratio",
        "no_speech_prob",
    } <= set(segment)
    assert 0 <= segment["start"] < segment["end"] <= verbose["duration"] + 0.1
    assert verbose["words"] and {"word", "start", "end"} == set(verbose["words"][0])
    srt = transcription(standin, wav, response_format="srt").text
    assert srt.startswith("1\n00:00:0") and " --> " in srt and "," in srt.splitlines()[1]
    vtt = transcription(standin, wav, response_format="vtt").text
    assert vtt.startswith("WEBVTT\n\n00:00:0") and "." in vtt.splitlines()[2]


def test_file_transcription_refuses_what_the_api_refuses(standin, wav):
    gpt4o_verbose = transcription(
        standin, wav, model="gpt-4o-transcribe", response_format="verbose_json"
    )
    assert gpt4o_verbose.status_code == 400
    assert gpt4o_verbose.json()["error"]["param"] == "response_format"
    granularity = transcription(standin, wav, **{"timestamp_granularities[]": "word"})
    assert granularity.status_code == 400
    no_file = requests.post(
        standin.base_url + "/audio/transcriptions",
        headers={"Authorization": f"Bearer {KEY}"},
        files={"model": (None, "whisper-1")},
        timeout=10,
    )
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"
    bad_type = requests.post(
        standin.base_url + "/audio/transcriptions",
        headers={"Authorization": f"Bearer {KEY}"},
        data={"model": "whisper-1"},
        files={"file": ("notes.txt", b"hello", "text/plain")},
        timeout=10,
    )
    assert bad_type.status_code == 400


# --- chat completions ------------------------------------------------------------------------

SOAP_SCHEMA = {
    "type": "object",
    "properties": {
        "sections": {
            "type": "object",
            "properties": {
                name: {"type": "string"}
                for name in ("subjective", "objective", "assessment", "plan")
            },
        },
        "cited_segments": {
            "type": "object",
            "properties": {
                name: {"type": "array", "items": {"type": "integer"}}
                for name in ("subjective", "objective", "assessment", "plan")
            },
        },
    },
}


def chat(standin, **body):
    return requests.post(
        standin.base_url + "/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "gpt-4o-mini", **body},
        timeout=10,
    )


def test_chat_completion_fills_the_json_schema_with_quoted_cited_lines(standin):
    transcript = "\n".join(
        [
            "[11] Doctor: What brings you in?",
            "[12] Patient: Headaches for two weeks.",
            "[13] Doctor: Blood pressure is 150 over 90.",
            "[14] Doctor: Increase lisinopril.",
        ]
    )
    response = chat(
        standin,
        messages=[
            {"role": "system", "content": "Write a SOAP note."},
            {"role": "user", "content": transcript},
        ],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "soap_note", "strict": True, "schema": SOAP_SCHEMA},
        },
    )
    body = response.json()
    assert response.status_code == 200
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o-mini"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    note = json.loads(choice["message"]["content"])
    assert note["sections"]["subjective"] == "Doctor: What brings you in?"
    assert note["sections"]["plan"] == "Doctor: Increase lisinopril."
    assert note["cited_segments"] == {
        "subjective": [11],
        "objective": [12],
        "assessment": [13],
        "plan": [14],
    }
    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_chat_completion_refuses_bad_requests_with_400(standin):
    assert chat(standin, messages=[]).status_code == 400
    no_json_word = chat(
        standin,
        messages=[{"role": "user", "content": "hi"}],
        response_format={"type": "json_object"},
    )
    assert no_json_word.status_code == 400 and "json" in no_json_word.json()["error"]["message"]
    bad_name = chat(
        standin,
        messages=[{"role": "user", "content": "hi"}],
        response_format={"type": "json_schema", "json_schema": {"name": "a b"}},
    )
    assert bad_name.status_code == 400


def test_the_stand_in_answers_configured_faults_after_the_key_check(standin):
    standin.fault(path="/v1/chat/completions", status=429, times=1, retry_after="0")
    limited = chat(standin, messages=[{"role": "user", "content": "hi"}])
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert chat(standin, messages=[{"role": "user", "content": "hi"}]).status_code == 200
