"""Static checks of the production container setup: docker-compose.yml, Dockerfile, .dockerignore.

No Docker engine is needed: the files are read as YAML and as text and checked against what
clinic/settings.py actually reads, so a renamed setting, a dropped healthcheck or a reordered
start-up fails here rather than on a server.
"""

import os
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SETTINGS_FILE = ROOT / "clinic" / "settings.py"

SERVICES = ("postgres", "redis", "proxy", "web")
HAPROXY_CONFIG = ROOT / "docker" / "haproxy.cfg"
# The host environment the interpolation tests use: only what compose insists on.
HOST_ENV = {"SECRET_KEY": "x"}

# env_str("NAME", ...), env_int(\n    "NAME", ...) and the like in clinic/settings.py.
SETTINGS_READ = re.compile(r'\benv_(?:str|bool|int|list|url|origins)\(\s*"([A-Z][A-Z0-9_]*)"')


# --- Helpers ---------------------------------------------------------------------------------


class MissingVariable(Exception):
    """Compose would refuse to start: a ${NAME:?message} variable is unset or empty."""


_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str, host_env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?err}, ${NAME?err}, $$."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        present = name in host_env
        current = host_env.get(name, "")
        if op in (":-", "-"):
            use_default = not present or (op == ":-" and current == "")
            return arg if use_default else current
        if op in (":?", "?"):
            if not present or (op == ":?" and current == ""):
                raise MissingVariable(f"{name}: {arg}")
            return current
        return current

    return _VARIABLE.sub(replace, value)


def _as_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE.name} is missing at the repository root"
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), f"{COMPOSE_FILE.name} is not a YAML mapping"
    assert "version" not in data, f"{COMPOSE_FILE.name} has the obsolete top-level version: key"
    assert isinstance(data.get("services"), dict), f"{COMPOSE_FILE.name} has no services: mapping"
    return data


def service(compose: dict, name: str) -> dict:
    assert name in compose["services"], f"docker-compose.yml has no {name!r} service"
    return compose["services"][name] or {}


def environment(svc: dict) -> dict[str, str | None]:
    """A service's environment as NAME -> raw value, from either the mapping or the list form."""
    raw = svc.get("environment") or {}
    if isinstance(raw, list):
        result = {}
        for item in raw:
            name, sep, value = str(item).partition("=")
            result[name] = value if sep else None
        return result
    return {str(name): _as_text(value) for name, value in raw.items()}


def resolved_environment(svc: dict, host_env: dict[str, str]) -> dict[str, str]:
    return {
        name: interpolate(value, host_env) if value is not None else host_env.get(name, "")
        for name, value in environment(svc).items()
    }


def settings_source() -> str:
    return SETTINGS_FILE.read_text()


def settings_variables() -> set[str]:
    names = set(SETTINGS_READ.findall(settings_source()))
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= names, (
        'the scan of clinic/settings.py for env_*("NAME" calls found '
        f"{sorted(names)}: the regex no longer matches how settings read the environment"
    )
    return names


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line, with continuations joined and comments out."""
    assert DOCKERFILE.is_file(), "Dockerfile is missing at the repository root"
    instructions, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # Docker drops comment and blank lines, also inside a continuation
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, arguments = current.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    if current:
        keyword, _, arguments = current.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def dockerfile_args(keyword: str) -> list[str]:
    return [arguments for name, arguments in dockerfile_instructions() if name == keyword]


def startup_commands() -> list[tuple[str, str]]:
    """(where, text) of what the container runs at start: CMD/ENTRYPOINT and scripts they name."""
    sources = []
    for keyword in ("ENTRYPOINT", "CMD"):
        for arguments in dockerfile_args(keyword)[-1:]:
            sources.append((f"Dockerfile {keyword}", arguments))
            for token in re.findall(r"[\w./-]+\.sh\b", arguments):
                parts = Path(token).parts
                for start in range(len(parts)):  # /app/docker/entrypoint.sh -> docker/...
                    candidate = ROOT.joinpath(*[p for p in parts[start:] if p != "/"])
                    if candidate.is_file():
                        script = "\n".join(
                            line
                            for line in candidate.read_text().splitlines()
                            if not line.lstrip().startswith("#")
                        )
                        sources.append((str(candidate.relative_to(ROOT)), script))
                        break
                else:
                    pytest.fail(f"Dockerfile {keyword} runs {token}, which is not in the repo")
    return sources


def _dockerignore_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out, i = out + "[" + ("^" + body[1:] if body.startswith("!") else body) + "]", end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    assert DOCKERIGNORE.is_file(), ".dockerignore is missing at the repository root"
    prefixes = ["/".join(path.split("/")[: n + 1]) for n in range(path.count("/") + 1)]
    excluded = False
    for line in DOCKERIGNORE.read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = os.path.normpath(pattern.lstrip("!").strip()).lstrip("/")
        regex = _dockerignore_regex(pattern)
        if any(regex.match(prefix) for prefix in prefixes):
            excluded = not negated
    return excluded


# --- docker-compose.yml ----------------------------------------------------------------------


def test_compose_defines_postgres_redis_and_web(compose):
    missing = [name for name in SERVICES if name not in compose["services"]]
    assert not missing, f"docker-compose.yml lacks the services {missing}"
    assert str(service(compose, "postgres").get("image", "")).startswith("postgres:16"), (
        "the postgres service should run the postgres:16 image"
    )
    assert str(service(compose, "redis").get("image", "")).startswith("redis:7"), (
        "the redis service should run the redis:7 image"
    )


def test_web_is_built_from_the_repository_root(compose):
    build = service(compose, "web").get("build")
    context = build.get("context") if isinstance(build, dict) else build
    assert context in (".", "./"), f"web should be built from '.', its build is {build!r}"


def test_web_waits_for_healthy_postgres_and_redis(compose):
    depends_on = service(compose, "web").get("depends_on")
    assert isinstance(depends_on, dict), (
        f"web depends_on must be the long form with conditions, got {depends_on!r}"
    )
    for name in ("postgres", "redis"):
        condition = (depends_on.get(name) or {}).get("condition")
        assert condition == "service_healthy", (
            f"web must wait for {name} with condition: service_healthy, got {condition!r}"
        )


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_healthcheck(compose, name):
    healthcheck = service(compose, name).get("healthcheck") or {}
    test = healthcheck.get("test")
    assert test and not healthcheck.get("disable"), f"service {name} has no healthcheck test"
    assert test != ["NONE"], f"service {name} disables its healthcheck"


def _healthcheck_text(compose, name) -> str:
    test = (service(compose, name).get("healthcheck") or {}).get("test") or []
    return test if isinstance(test, str) else " ".join(str(part) for part in test)


def test_healthchecks_probe_the_right_thing(compose):
    assert "pg_isready" in _healthcheck_text(compose, "postgres"), (
        "the postgres healthcheck should run pg_isready"
    )
    assert "redis-cli ping" in _healthcheck_text(compose, "redis"), (
        "the redis healthcheck should run redis-cli ping"
    )
    web = _healthcheck_text(compose, "web")
    assert "http://127.0.0.1:8000/healthz" in web, (
        f"the web healthcheck should GET http://127.0.0.1:8000/healthz, it runs {web!r}"
    )


def test_database_url_matches_the_postgres_service(compose):
    postgres_env = environment(service(compose, "postgres"))
    web_env = environment(service(compose, "web"))
    assert web_env.get("DATABASE_URL"), "web does not set DATABASE_URL"
    for host_env in (HOST_ENV, {**HOST_ENV, "POSTGRES_PASSWORD": "changed-on-the-host"}):
        url = urlsplit(interpolate(web_env["DATABASE_URL"], host_env))
        expected_password = interpolate(postgres_env.get("POSTGRES_PASSWORD") or "", host_env)
        where = f"DATABASE_URL {url.geturl()!r} with host environment {sorted(host_env)}"
        assert url.scheme in {"postgres", "postgresql"}, f"{where} is not a PostgreSQL URL"
        assert url.hostname == "postgres", f"{where} does not point at the postgres service"
        assert url.port in (None, 5432), f"{where} does not use PostgreSQL's port 5432"
        assert url.username == postgres_env.get("POSTGRES_USER"), (
            f"{where} logs in as {url.username!r}, postgres creates "
            f"POSTGRES_USER={postgres_env.get('POSTGRES_USER')!r}"
        )
        assert url.password == expected_password, (
            f"{where} has password {url.password!r}, postgres is given {expected_password!r}"
        )
        assert url.path.lstrip("/") == postgres_env.get("POSTGRES_DB"), (
            f"{where} names database {url.path.lstrip('/')!r}, postgres creates "
            f"POSTGRES_DB={postgres_env.get('POSTGRES_DB')!r}"
        )


def test_redis_url_points_at_the_redis_service(compose):
    value = resolved_environment(service(compose, "web"), HOST_ENV).get("REDIS_URL")
    assert value, "web does not set REDIS_URL"
    url = urlsplit(value)
    assert url.scheme == "redis", f"REDIS_URL {value!r} is not a redis:// URL"
    assert url.hostname == "redis", f"REDIS_URL {value!r} does not point at the redis service"
    assert url.port in (None, 6379), f"REDIS_URL {value!r} does not use Redis's port 6379"


def test_secret_key_is_required_from_the_host(compose):
    value = environment(service(compose, "web")).get("SECRET_KEY")
    assert value and re.fullmatch(r"\$\{SECRET_KEY:\?[^}]*\}", value), (
        f"web SECRET_KEY must be ${{SECRET_KEY:?message}} so compose refuses to start "
        f"without it (or with it empty), got {value!r}"
    )
    with pytest.raises(MissingVariable):
        interpolate(value, {})


def test_debug_is_off(compose):
    value = environment(service(compose, "web")).get("DEBUG")
    assert value is not None and value.strip().lower() in {"false", "0", "no", "off"}, (
        f"web must set DEBUG to false explicitly, got {value!r}"
    )


def test_web_sets_only_variables_that_settings_read(compose):
    unread = set(environment(service(compose, "web"))) - settings_variables()
    assert not unread, (
        f"web sets {sorted(unread)}, which clinic/settings.py never reads (typo or stale name?)"
    )


def test_video_settings_are_passed_through(compose):
    web = service(compose, "web")
    raw = environment(web)
    video = {n for n in settings_variables() if n.startswith(("CALLS_", "MAX_WEBCAM_"))}
    assert len(video) >= 6, f"expected the Calls and MAX_WEBCAM_* settings, found {video}"
    missing = video - set(raw)
    assert not missing, f"web does not pass {sorted(missing)} to the app"

    host = {name: f"from-host-{name}" for name in video}
    overridden = resolved_environment(web, {**HOST_ENV, **host})
    defaults = resolved_environment(web, HOST_ENV)
    source = settings_source()
    for name in sorted(video):
        assert overridden[name] == host[name], (
            f"web {name}={raw[name]!r} does not take its value from the host's {name}"
        )
        if name.startswith("CALLS_"):
            assert defaults[name] == "", (
                f"with the host's {name} unset, web should pass it empty (settings' default "
                f"applies), it passes {defaults[name]!r}"
            )
        else:
            match = re.search(rf'env_int\(\s*"{name}",\s*([0-9_]+)', source)
            assert match, f"cannot find {name}'s default in clinic/settings.py"
            assert defaults[name] == str(int(match.group(1).replace("_", ""))), (
                f"web's default {name}={defaults[name]!r} differs from settings' {match.group(1)}"
            )


def _published(svc: dict) -> list[tuple[str, str]]:
    published = []
    for entry in svc.get("ports") or []:
        if isinstance(entry, dict):
            published.append((str(entry.get("published", "")), str(entry.get("target"))))
        else:
            *host, target = str(entry).split(":")
            published.append((host[-1] if host else "", target.split("/")[0]))
    return published


def test_the_proxy_alone_publishes_port_8000(compose):
    published = _published(service(compose, "proxy"))
    assert ("8000", "8000") in published, (
        f"proxy must publish container port 8000 on host port 8000, it publishes {published}"
    )
    # Replicas publishing the same host port would clash: web is reached through the proxy.
    assert not _published(service(compose, "web")), "web must not publish ports (the proxy does)"


def test_the_proxy_balances_the_web_replicas_on_their_health(compose):
    proxy = service(compose, "proxy")
    assert str(proxy.get("image", "")).startswith("haproxy:2.6"), proxy.get("image")
    mounted = [str(volume).split(":")[:2] for volume in proxy.get("volumes") or []]
    assert ["./docker/haproxy.cfg", "/usr/local/etc/haproxy/haproxy.cfg"] in mounted, mounted
    replicas = (service(compose, "web").get("deploy") or {}).get("replicas", 1)
    assert replicas >= 2, f"web runs {replicas} replica(s): the proxy is there for several"
    config = HAPROXY_CONFIG.read_text()
    assert re.search(r"^\s*server-template web \d+ web:8000\b", config, re.M), (
        "docker/haproxy.cfg must find the web replicas (web:8000) through Docker's DNS"
    )
    assert "resolvers docker" in config and "127.0.0.11:53" in config
    assert re.search(r"^\s*http-check send meth GET uri /healthz\b", config, re.M), (
        "the proxy must check each replica's /healthz"
    )
    assert re.search(r"^\s*timeout tunnel\b", config, re.M), "WebSockets need a tunnel timeout"
    num_proxies = environment(service(compose, "web")).get("NUM_PROXIES")
    assert num_proxies == "1" and "set-header X-Forwarded-For %[src]" in config, (
        "behind the proxy the app must trust exactly one X-Forwarded-For hop, the proxy's"
    )


@pytest.mark.parametrize("name", ["web", "proxy"])
def test_services_restart_unless_stopped(compose, name):
    policy = service(compose, name).get("restart")
    assert policy == "unless-stopped", f"{name} restart policy is {policy!r}, not unless-stopped"


# --- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_builds_on_python_311_slim():
    bases = dockerfile_args("FROM")
    assert bases and bases[-1].split()[0] == "python:3.11-slim", (
        f"the image should build on python:3.11-slim, FROM says {bases}"
    )


def test_dockerfile_sets_python_runtime_environment():
    env = {}
    for arguments in dockerfile_args("ENV"):
        for word in shlex.split(arguments):
            name, _, value = word.partition("=")
            env[name] = value
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"):
        assert env.get(name) == "1", f"the Dockerfile should set ENV {name}=1, got {env.get(name)}"


def test_dockerfile_healthcheck_hits_healthz():
    checks = dockerfile_args("HEALTHCHECK")
    assert checks, "the Dockerfile has no HEALTHCHECK"
    check = checks[-1]
    assert not check.upper().startswith("NONE"), "the Dockerfile HEALTHCHECK is NONE"
    assert "http://127.0.0.1:8000/healthz" in check and "urllib" in check, (
        f"the HEALTHCHECK should GET http://127.0.0.1:8000/healthz with urllib, it is {check!r}"
    )


def test_dockerfile_runs_as_a_non_root_user():
    users = dockerfile_args("USER")
    assert users, "the Dockerfile has no USER: the app would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"the last USER is {users[-1]!r}: the app would run as root"


def test_dockerfile_installs_the_project_without_dev_extra():
    runs = " ".join(dockerfile_args("RUN"))
    assert re.search(r"pip install [^&;|]*(?<![\w/.-])\.(?=\s|$)", runs), (
        "no RUN installs the project itself (pip install . / pip install -e .)"
    )
    assert "[dev]" not in runs, "the image installs the dev extra; it should get runtime deps only"


def test_dockerfile_collects_static_with_a_build_only_key():
    runs = [arguments for arguments in dockerfile_args("RUN") if "collectstatic" in arguments]
    assert runs, "no RUN runs manage.py collectstatic"
    assert any("--noinput" in run and re.search(r"\bSECRET_KEY=\S", run) for run in runs), (
        "collectstatic must run with --noinput and a SECRET_KEY set on that RUN line"
    )
    leaked = [
        f"{name} {arguments}"
        for name, arguments in dockerfile_instructions()
        if name in {"ENV", "ARG"} and "SECRET_KEY" in arguments
    ]
    assert not leaked, f"SECRET_KEY must not be baked into the image, found {leaked}"


def test_container_migrates_before_starting_daphne():
    sources = startup_commands()
    assert sources, "the Dockerfile has no CMD or ENTRYPOINT"
    for where, text in sources:
        migrate = re.search(r"manage\.py migrate\b[^\n&;]*--noinput", text)
        # Daphne through clinic.server, which adds the connection timeouts.
        daphne = re.search(r"\bexec python -m clinic\.server\b[^\n]*", text)
        if not (migrate or daphne):
            continue
        assert migrate, f"{where} starts Daphne without running manage.py migrate --noinput"
        assert daphne, f"{where} migrates but does not exec python -m clinic.server"
        assert migrate.start() < daphne.start(), f"{where} starts Daphne before migrating"
        command = daphne.group(0)
        for part in ("--bind 0.0.0.0", "--port 8000", "clinic.asgi:application"):
            assert part in command, f"{where} runs {command!r}, lacking {part}"
        between = text[migrate.end() : daphne.start()]
        assert re.search(r"^\s*set -[a-z]*e", text, re.MULTILINE) or "&&" in between, (
            f"{where} would start Daphne even when the migration fails (use set -e or &&)"
        )
        break
    else:
        pytest.fail(f"neither {[where for where, _ in sources]} runs migrate and then daphne")


def test_dockerfile_exposes_the_port_daphne_listens_on():
    exposed = " ".join(dockerfile_args("EXPOSE")).split()
    assert "8000" in exposed or "8000/tcp" in exposed, f"the Dockerfile EXPOSEs {exposed}, not 8000"


def test_startup_script_can_be_executed():
    for where, _ in startup_commands():
        if where.startswith("Dockerfile"):
            continue
        script = ROOT / where
        chmod_in_image = any(
            "chmod" in run and script.name in run for run in dockerfile_args("RUN")
        )
        assert os.access(script, os.X_OK) or chmod_in_image, (
            f"{where} is not executable and the Dockerfile does not chmod it"
        )
        assert script.read_text().startswith("#!"), f"{where} has no #! line"


# --- .dockerignore ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "db.sqlite3",
        "staticfiles/admin/css/base.css",
        "clinic/__pycache__",
        "clinic/__pycache__/settings.cpython-311.pyc",
        "visits/models/__pycache__/appointments.cpython-311.pyc",
        ".pytest_cache/v/cache/lastfailed",
        ".ruff_cache/CACHEDIR.TAG",
        "test-results/junit.xml",
        "clinic_meet.egg-info/PKG-INFO",
        ".env",
        "node_modules/eslint/package.json",
    ],
)
def test_dockerignore_leaves_out_local_state(path):
    assert dockerignore_excludes(path), f".dockerignore lets {path} into the build context"


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "README.md",  # pyproject's readme: pip install fails without it
        "manage.py",
        "clinic/settings.py",
        "visits/models/appointments.py",
        "rooms/routing.py",
        "templates/base.html",
        "static/app.js",
        "static/js/room/main.js",
        "docker/entrypoint.sh",
    ],
)
def test_dockerignore_keeps_what_the_image_needs(path):
    assert not dockerignore_excludes(path), f".dockerignore leaves out {path}, the image needs it"


def test_the_worker_runs_the_recordings_worker_beside_web_with_its_settings_and_files(compose):
    worker, web = service(compose, "worker"), service(compose, "web")
    assert worker.get("build") == web.get("build")
    assert worker.get("command")[-2:] == ["recordings_worker", "--no-reload"]
    assert worker.get("environment") == web.get("environment")  # same database, key, storage
    assert "RECORDINGS_KEY" in web["environment"]
    media_root = web["environment"]["MEDIA_ROOT"]
    assert f"recordings:{media_root}" in web.get("volumes", [])
    assert f"recordings:{media_root}" in worker.get("volumes", [])
    assert worker["depends_on"]["web"]["condition"] == "service_healthy"  # after the migrations
    assert "sweep_recordings" in " ".join(worker["healthcheck"]["test"])
