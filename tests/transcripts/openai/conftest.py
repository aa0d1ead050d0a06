import pytest

from standins.openai.testkit import running_standin, spoken
from standins.openai.testkit import word_error_rate as words_error  # noqa: F401 (for the tests)

# the bundled tiny model mishears a word or two of a short sentence (measured: up to 2 in 7)
MAX_WER = 0.3
KEY = "sk-clinic-test-abcdef0123456789"
FIRST = "Are you still taking the medicine for your blood pressure?"
SECOND = "Please get a blood test next week."


@pytest.fixture(scope="session")
def standin():
    """One stand-in process (one model load) for every test here."""
    with running_standin(api_key=KEY) as running:
        yield running


@pytest.fixture
def fresh_standin(standin):
    standin.forget_requests()
    standin.clear_faults()
    yield standin
    standin.clear_faults()


@pytest.fixture(scope="session")
def two_turns() -> bytes:
    """16 kHz s16le: one sentence, a second of silence, another, then silence."""
    return spoken(FIRST, silence_after_ms=1200) + spoken(SECOND, silence_before_ms=0)
