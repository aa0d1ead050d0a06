"""Engines by the name TRANSCRIPTION_ENGINE gives, built from plain settings values.

The pool's engine processes call get_engine without Django: whatever an engine needs (a model
path, an API key, a base URL) is passed in as keyword arguments. Each engine module is imported
only when its engine is asked for, so a server running `local` never imports the OpenAI client
and the reverse.
"""

from importlib import import_module

from rooms.transcripts.engines.base import Engine

# name → "module:class"; the class is called with the engine's settings as keyword arguments.
# openai-realtime lives in engines/openai_realtime.py (the OpenAI helper's module).
ENGINES = {
    "local": "rooms.transcripts.engines.local:LocalEngine",
    "openai-realtime": "rooms.transcripts.engines.openai_realtime:OpenAIRealtimeEngine",
}


class UnknownEngine(LookupError):
    pass


def get_engine(name: str, **settings) -> Engine:
    try:
        target = ENGINES[name]
    except KeyError:
        raise UnknownEngine(
            f"no transcription engine {name!r}; known: {', '.join(ENGINES)}"
        ) from None
    module_name, class_name = target.split(":")
    return getattr(import_module(module_name), class_name)(**settings)
