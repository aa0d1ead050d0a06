"""The installed product is clinic, visits and rooms: the local stand-ins (standins/) and the
development-only dependencies of the stand-in SFU stay out of it."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import setuptools

from tests.deploy.test_compose import dockerignore_excludes

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("clinic", "visits", "rooms")
DEVELOPMENT_ONLY = ("jsonschema", "aiortc", "aiohttp", "standins")

IMPORT_EVERYTHING = f"""
import importlib, json, pkgutil, sys
import clinic.asgi
for package in {PRODUCT!r}:
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(module.name)
development_only = {DEVELOPMENT_ONLY!r}
print(json.dumps(sorted(
    name for name in sys.modules if name.split(".")[0] in development_only
)))
"""


def test_the_app_imports_no_stand_in_and_no_development_only_package():
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(Path.home()),
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "SECRET_KEY": "test-only-secret-key-for-the-import-check",
        "DEBUG": "true",  # no collected static files needed to import clinic.asgi
    }
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_the_built_package_leaves_the_stand_ins_out():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    find = config["tool"]["setuptools"]["packages"]["find"]
    packages = setuptools.find_packages(where=str(REPO), include=find["include"])
    assert {"clinic.integrations.cloudflare", "rooms.calls", "visits.apis"} <= set(packages)
    assert {package.split(".")[0] for package in packages} == set(PRODUCT)


def test_the_image_leaves_the_stand_ins_out():
    assert dockerignore_excludes("standins/calls_sfu/server.py")
