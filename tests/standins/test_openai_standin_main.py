"""`python -m standins.openai`: its refusals (no key, not loopback) and that it runs and says
where (the running server itself is tested in test_openai_standin.py)."""

import subprocess
import sys

import pytest

from standins.openai.__main__ import main


def test_without_a_key_it_refuses(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(SystemExit, match="OPENAI_API_KEY or pass --api-key"):
        main(["--port", "0"])


def test_it_binds_loopback_only():
    with pytest.raises(SystemExit, match="loopback only"):
        main(["--host", "0.0.0.0", "--api-key", "k"])  # noqa: S104 (the refusal under test)


def test_a_taken_port_is_a_clear_error(unused_tcp_port):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", unused_tcp_port))
        taken.listen()
        with pytest.raises(SystemExit, match=f"Cannot serve on 127.0.0.1:{unused_tcp_port}"):
            main(["--port", str(unused_tcp_port), "--api-key", "k"])


def test_it_runs_as_a_module_and_shows_its_options():
    done = subprocess.run(
        [sys.executable, "-m", "standins.openai", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--api-key" in done.stdout and "--port" in done.stdout
