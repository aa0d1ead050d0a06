"""Speech recognition engines behind one interface (base.py), chosen by TRANSCRIPTION_ENGINE."""
