"""A local stand-in for the parts of OpenAI's API that Clinic Meet calls (`python -m
standins.openai`): the Realtime API's transcription sessions over WebSocket, file
transcription and Chat Completions, under /v1, on loopback, checking the API key as OpenAI does.

It really transcribes (faster-whisper with the bundled model, its Silero VAD for server_vad), so
tests that go through it hear the words. Chat Completions has no language model behind it: the
answer is built deterministically from the request (see standins.openai.chat). What it follows,
and where from: docs/openai.md.

Test-only endpoints, not part of OpenAI's API, live under /_standin/ (the request log, faults).
"""
