#!/bin/sh
# Container start: bring the database schema up to date, then hand the process to Daphne.
# exec makes Daphne PID 1, so `docker stop`'s SIGTERM reaches it directly.
# set -e: a failed migration stops the container instead of serving an outdated schema.
set -eu
cd "$(dirname "$0")/.."

python manage.py migrate --noinput
# Daphne with the clinic's connection timeouts (clinic/server.py).
# No --proxy-headers: X-Forwarded-For from an unchecked client would forge its address.
exec python -m clinic.server --bind 0.0.0.0 --port 8000 clinic.asgi:application
