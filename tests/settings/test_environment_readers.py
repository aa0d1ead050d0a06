import pytest
from django.core.exceptions import ImproperlyConfigured

from clinic.environment import env_bool, env_decimal, env_int, env_list, env_origins, env_url


def test_readers_fall_back_to_defaults(monkeypatch):
    monkeypatch.delenv("CM_TEST", raising=False)
    assert env_bool("CM_TEST", default=True) is True
    assert env_int("CM_TEST", 7) == 7
    assert env_list("CM_TEST", ["a"]) == ["a"]
    assert env_url("CM_TEST", None, schemes={"https"}) is None


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("YES", True), ("off", False), (" false ", False)]
)
def test_booleans(monkeypatch, raw, expected):
    monkeypatch.setenv("CM_TEST", raw)
    assert env_bool("CM_TEST", default=not expected) is expected


def test_lists_and_origins(monkeypatch):
    monkeypatch.setenv("CM_TEST", " a.example , b.example ,")
    assert env_list("CM_TEST", []) == ["a.example", "b.example"]
    monkeypatch.setenv("CM_TEST", "https://a.example,ftp://b.example")
    with pytest.raises(ImproperlyConfigured, match="CM_TEST"):
        env_origins("CM_TEST")


def test_sqlite_urls_need_a_path_not_a_host(monkeypatch):
    monkeypatch.setenv("CM_TEST", "sqlite:////var/lib/clinic/db.sqlite3")
    assert env_url("CM_TEST", None, schemes={"sqlite"}).endswith("db.sqlite3")
    monkeypatch.setenv("CM_TEST", "postgres:///")
    with pytest.raises(ImproperlyConfigured, match="CM_TEST must name a host"):
        env_url("CM_TEST", None, schemes={"postgres"})


@pytest.mark.parametrize(("raw", "expected"), [("15", 15.0), (" 0.25 ", 0.25), ("", 15.0)])
def test_decimals(monkeypatch, raw, expected):
    monkeypatch.setenv("CM_TEST", raw)
    assert env_decimal("CM_TEST", 15, minimum=0.1) == expected


@pytest.mark.parametrize("raw", ["0.05", "-1", "nan", "inf", "soon"])
def test_decimals_out_of_range_or_not_numbers_stop_start_up(monkeypatch, raw):
    monkeypatch.setenv("CM_TEST", raw)
    with pytest.raises(ImproperlyConfigured, match="CM_TEST"):
        env_decimal("CM_TEST", 15, minimum=0.1)
