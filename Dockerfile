# Production image: gunicorn for the web, the same image for the Celery worker and beat.
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
COPY pyproject.toml ./
COPY . .
COPY --from=assets /app/node_modules ./node_modules
# `.` alone is the shops' CLI; the `server` extra adds Django, Celery, gunicorn and the rest.
RUN pip install --no-cache-dir ".[server]" \
 && DJANGO_SECRET_KEY=build-only PRINTFAIR_KEKS="1:$(python -c 'import base64,os;print(base64.b64encode(os.urandom(32)).decode())')" \
    DJANGO_ALLOWED_HOSTS=build python manage.py collectstatic --noinput \
 && useradd --system --create-home printfair && mkdir -p /app/var && chown -R printfair /app/var
USER printfair
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "300"]
