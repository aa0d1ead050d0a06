"""The transcription benchmark's own arithmetic (bench/transcription.py): how it ranks latencies,
which segment ends which turn, how it cuts audio, and that the Opus round trip it measures
after keeps the dialogue's timeline (a shifted timeline would shift every latency)."""

import math
import random

import numpy as np
import pytest

from bench.transcription import (
    BYTES_PER_MS,
    FRAME_MS,
    end_frame,
    end_of_turn_latencies,
    frames,
    percentile,
    piece_sizes,
    word_error_rates,
)
from tests.transcripts.dialogue import SAMPLE_RATE, Turn, opus_round_trip


def test_percentile_is_the_nearest_rank():
    values = [float(v) for v in range(20, 0, -1)]  # 20 .. 1, unordered on purpose
    assert percentile(values, 0.50) == 10
    assert percentile(values, 0.95) == 19
    assert percentile(values, 1.0) == 20
    assert percentile([5.0, 1.0, 4.0, 2.0, 3.0], 0.50) == 3  # rank 2.5 rounds up
    assert percentile([3.5], 0.95) == 3.5
    assert math.isnan(percentile([], 0.5))


def test_pieces_cover_the_audio_in_20_to_100_ms():
    total = 5 * SAMPLE_RATE * 2 + 6  # 5 s and three samples
    sizes = piece_sizes(total, random.Random(1))
    assert sum(sizes) == total
    assert all(20 * BYTES_PER_MS <= size <= 100 * BYTES_PER_MS for size in sizes[:-1])
    assert all(size % 2 == 0 for size in sizes)
    assert len(set(sizes)) > 5  # drawn, not one fixed size


def test_frames_are_20_ms_and_the_last_is_padded():
    pcm = bytes(range(256)) * 5  # 1280 bytes: two frames of 640
    cut = frames(pcm + b"\x01\x02")
    assert [len(frame) for frame in cut] == [FRAME_MS * BYTES_PER_MS] * 3
    assert b"".join(cut)[: len(pcm) + 2] == pcm + b"\x01\x02"


TURNS = (
    Turn("doctor", "Good morning. What brings you in today?", 500, 3414),
    Turn("patient", "I have had headaches for two weeks.", 4614, 9151),
    Turn("doctor", "Are you still taking the lisinopril?", 10351, 13788),
    Turn("patient", "Yes, ten milligrams every morning.", 14988, 19960),
)
SENT_AT = [100 + index * FRAME_MS / 1000 for index in range(1100)]  # frame k sent at 100 + k/50


def test_a_turns_latency_runs_from_its_end_frame_to_its_segment():
    assert end_frame(TURNS[0]) == 170  # 3414 ms is in the frame 3400-3420
    assert end_frame(Turn("doctor", "", 0, 3420)) == 170  # its last sample, 3419 ms, is too
    arrivals = [
        (SENT_AT[170] + 0.8, "doctor", "Good morning, what brings you in today?"),
        (SENT_AT[end_frame(TURNS[1])] + 1.2, "patient", "I had headaches for 2 weeks."),
    ]
    latencies = end_of_turn_latencies(TURNS, SENT_AT, arrivals)
    assert latencies[0] == pytest.approx(0.8)
    assert latencies[1] == pytest.approx(1.2)
    assert latencies[2:] == [None, None]  # no segment came for them


def test_a_turn_cut_in_two_ends_at_its_last_segment_and_words_of_no_turn_count_for_none():
    end = SENT_AT[end_frame(TURNS[2])]
    arrivals = [
        (end - 0.5, "doctor", "Are you still taking"),
        (end + 0.9, "doctor", "the lisinopril?"),
        (end + 3.0, "doctor", "Thanks for watching!"),  # a hallucination: no turn's words
        # The patient's words heard on the doctor's stream are not the patient's turn.
        (end + 0.1, "doctor", "Yes, ten milligrams every morning."),
    ]
    latencies = end_of_turn_latencies(TURNS, SENT_AT, arrivals)
    assert latencies[2] == pytest.approx(0.9)
    assert latencies[0] is None  # the hallucination went to no turn of the doctor's
    assert latencies[3] is None


def test_word_error_rate_overall_counts_both_speakers_words():
    references = {"doctor": "Good morning, come in.", "patient": "Thank you."}
    rates = word_error_rates(references, {"doctor": "good morning come in", "patient": "thank me"})
    assert rates["doctor"] == 0
    assert rates["patient"] == 0.5
    assert rates["overall"] == pytest.approx(1 / 6)  # one word wrong of six, not (0 + 0.5) / 2


def test_the_opus_round_trip_keeps_the_duration_and_where_the_sound_is():
    silence, tone = np.zeros(SAMPLE_RATE, dtype="<i2"), np.arange(SAMPLE_RATE // 2)
    burst = (8000 * np.sin(2 * np.pi * 440 * tone / SAMPLE_RATE)).astype("<i2")
    pcm = np.concatenate([silence, burst, silence]).tobytes()  # the tone at 1.0-1.5 s
    back = np.frombuffer(opus_round_trip(pcm, bitrate=24_000), dtype="<i2").astype(float)
    assert abs(len(back) * 2 - len(pcm)) <= 0.01 * len(pcm)
    loud = np.flatnonzero(np.abs(back) > 2000)
    assert abs(loud[0] / SAMPLE_RATE - 1.0) < 0.005  # the onset within 5 ms
    assert abs(loud[-1] / SAMPLE_RATE - 1.5) < 0.005
