"""MFA_REQUIRED_ROLES: doctors and clinic staff by default, empty turns it off, a role that
does not exist stops start-up naming the variable. (The suite itself runs with it empty,
pyproject's pytest env, so here each case reads the settings in a fresh interpreter.)"""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from clinic.environment import env_choices
from tests.settings.test_environment import PRODUCTION, run_python
from visits.models import Role

SHOW = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps(settings.MFA_REQUIRED_ROLES))"
)


def _required_roles(env: dict[str, str]) -> list[str]:
    result = run_python({**PRODUCTION, **env}, "-c", SHOW)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_with_nothing_set_doctors_and_clinic_staff_must_use_a_second_factor():
    assert _required_roles({}) == ["doctor", "admin"]


def test_empty_turns_the_requirement_off_and_a_list_chooses_the_roles():
    assert _required_roles({"MFA_REQUIRED_ROLES": ""}) == []
    assert _required_roles({"MFA_REQUIRED_ROLES": " patient, doctor ,admin"}) == [
        "patient",
        "doctor",
        "admin",
    ]


def test_an_unknown_role_stops_start_up_naming_the_variable():
    result = run_python({**PRODUCTION, "MFA_REQUIRED_ROLES": "doctor,nurse"}, "manage.py", "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "MFA_REQUIRED_ROLES" in result.stderr and "'nurse'" in result.stderr


def test_the_settings_know_the_same_roles_as_the_model(settings):
    assert set(settings.ROLES) == set(Role.values)


def test_the_reader_tells_unset_from_empty(monkeypatch):
    monkeypatch.delenv("CM_TEST", raising=False)
    assert env_choices("CM_TEST", ["a"], choices=("a", "b")) == ["a"]
    monkeypatch.setenv("CM_TEST", "")
    assert env_choices("CM_TEST", ["a"], choices=("a", "b")) == []
    monkeypatch.setenv("CM_TEST", "b,b,a")
    assert env_choices("CM_TEST", ["a"], choices=("a", "b")) == ["b", "a"]
    monkeypatch.setenv("CM_TEST", "c")
    with pytest.raises(ImproperlyConfigured, match="CM_TEST"):
        env_choices("CM_TEST", ["a"], choices=("a", "b"))
