import pytest

from rooms.transcripts.engines.base import EngineOptions
from rooms.transcripts.pool import RecognitionPool
from tests.transcripts import dialogue as script


@pytest.fixture(scope="session")
def dialogue() -> script.Dialogue:
    return script.synthesise()


@pytest.fixture(scope="session")
def options() -> EngineOptions:
    return EngineOptions(prompt=script.VISIT_VOCABULARY)


@pytest.fixture(scope="session")
def local_engine():
    # Loaded once for the whole run (about a second and 200 MB).
    from rooms.transcripts.engines.local import LocalEngine

    return LocalEngine(cpu_threads=2)


@pytest.fixture(scope="session")
def pool():
    # One engine process shared by every pool test; the crash test restarts it.
    pool = RecognitionPool(workers=1, max_backlog_ms=20_000)
    yield pool
    pool.shutdown()
