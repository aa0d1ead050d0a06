"""Clients of OpenAI's API (and of OpenAI-compatible servers): the Realtime API's transcription
sessions (realtime), file transcription (audio), Chat Completions (chat). Base URL, key and
timeouts are passed in by the caller, from settings; the key travels in the Authorization
header only and never leaves the server. What each calls: docs/openai.md."""
