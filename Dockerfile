# Production image: gunicorn for the web, the same image for the deploy step, the Celery worker,
# the sender and beat (docker-compose.yml). It carries the tracked sources only (.dockerignore)
# and needs no secret to build: settings come from the environment when a container starts.
FROM node:20-bookworm-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings.production
WORKDIR /app
# DejaVu Sans for the certificate PDFs (printshops/certificates/): names print as given.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
# The server's locked dependencies first (a layer that changes only with the lock), every one
# checked against its hash; then PrintFair itself.
COPY requirements/server.lock requirements/
RUN pip install --no-cache-dir --require-hashes -r requirements/server.lock
COPY . .
COPY --from=assets /app/node_modules ./node_modules
# Static files, compressed and named by their hash, with the settings every environment shares
# (no secret is read to collect them).
RUN pip install --no-cache-dir --no-deps . \
 && DJANGO_SETTINGS_MODULE=config.settings.base python manage.py collectstatic --noinput \
 && useradd --system --create-home printfair && mkdir -p /app/var/media \
 && chown -R printfair /app/var
USER printfair
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--timeout", "300"]
