"""Speech recognition engines behind one interface (base.py), chosen by TRANSCRIPTION_ENGINE.

get_engine(name, **settings) (registry.py) builds one; rooms.transcripts.pool runs them in
engine processes."""
