# iotserver: one image for every role and process (web, ingest, Celery worker and beat).
#   docker build -t iotserver .
# The process is chosen by the command (deploy/bin/web, deploy/bin/ingest, ...), the role by
# IOTSERVER_ROLE; secrets come at run time (env file, docker secrets), never at build time.

# --- front-end packages (uPlot for the dashboard charts) -------------------------------
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- application ------------------------------------------------------------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=iotserver.settings \
    DEBUG=0

RUN groupadd --system --gid 10001 iotserver \
    && useradd --system --uid 10001 --gid iotserver --home-dir /app --shell /usr/sbin/nologin iotserver

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
# (psycopg2-binary, argon2-cffi and cryptography ship manylinux wheels: no compiler needed.)
COPY requirements.txt ./
RUN pip install --no-compile -r requirements.txt

COPY --from=assets /build/node_modules/uplot/dist /app/node_modules/uplot/dist
# Code and static files stay owned by root: the runtime user can read them, not change them.
COPY . .

# Hashed, compressed static files for WhiteNoise. Settings need a secret and a key file to
# load; throwaway ones are made for this step and removed in the same layer.
RUN tmp=$(mktemp -d) && echo build-only > "$tmp/key.pem" \
    && SECRET_KEY=collectstatic-only IOTSERVER_ROLE=telemetry JWT_PUBLIC_KEY_FILE="$tmp/key.pem" \
       python manage.py collectstatic --noinput -v0 \
    && rm -rf "$tmp" /app/.devsecrets

USER iotserver
EXPOSE 8000
# Overridden per service; `exec` inside the scripts makes the Python process PID 1.
CMD ["deploy/bin/web"]
