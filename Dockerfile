# The CRM's image for deployments. One image runs every role: gunicorn (the default command),
# the Celery worker and Celery beat, and the one-shot `migrate` (see docker-compose.yml).
#
#   docker compose build            or            docker build -t crm-publico .
#
# Configuration comes from the environment at run time (docs/configuration.md); nothing secret
# is baked in. Three stages: npm assets, Python dependencies (compiled), the runtime image.

ARG PYTHON_IMAGE=python:3.13-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# --- Front-end libraries from npm: exactly package-lock.json, without devDependencies ----------
FROM ${NODE_IMAGE} AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# --- Python dependencies: requirements.lock, every file checked against its hash ---------------
# python-ldap has no wheels: it compiles here against OpenLDAP and Cyrus SASL headers.
FROM ${PYTHON_IMAGE} AS python-deps
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libldap2-dev libsasl2-dev \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements.lock

# --- Runtime ----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

# Shared libraries only: OpenLDAP and SASL for python-ldap, Pango and HarfBuzz for WeasyPrint
# (PDFs) with fonts to draw them, gettext to compile the translations below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libldap-2.5-0 libsasl2-2 \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-liberation2 \
        gettext \
    && rm -rf /var/lib/apt/lists/*

# The unprivileged user everything runs as; its home takes caches (fontconfig's, for WeasyPrint).
RUN groupadd --system --gid 10001 crm \
    && useradd --system --uid 10001 --gid crm --create-home --home-dir /home/crm \
        --shell /usr/sbin/nologin crm

# STATIC_ROOT holds what collectstatic writes below; MEDIA_ROOT is the `media` volume.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=crm.settings \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/data/media \
    WEB_CONCURRENCY=3

WORKDIR /app
COPY --from=python-deps /opt/venv /opt/venv
COPY --from=assets /build/node_modules ./node_modules
COPY . .

# Translations and static files are built into the image. The settings run as a deployment
# (DATABASE_URL set) so that collectstatic writes WhiteNoise's hashed, compressed files; neither
# command connects to the database, and the throw-away key below exists only in this step.
RUN DATABASE_URL=postgres://build@localhost/build SECRET_KEY=image-build-only-not-a-secret \
    sh -c 'python manage.py compilemessages -v 0 --ignore=node_modules \
        && python manage.py collectstatic --noinput -v 0'

RUN mkdir -p /data/media && chown crm:crm /data/media

USER crm
EXPOSE 8000

# gunicorn reads WEB_CONCURRENCY (worker processes, 3 above) and GUNICORN_CMD_ARGS (any other
# option, e.g. "--timeout 60") from the environment.
CMD ["gunicorn", "crm.wsgi:application", "--bind", "0.0.0.0:8000", \
     "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-"]
