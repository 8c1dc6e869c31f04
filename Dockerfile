FROM python:3.11-slim

# REQUIRE_SECRETS: no container of this image starts without DJANGO_SECRET_KEY and FIELD_ENCRYPTION_KEY.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 WEB_BIND=0.0.0.0:8000 GUNICORN_BIND=0.0.0.0:8000 REQUIRE_SECRETS=true
WORKDIR /app

# The locked versions, checked against their hashes (requirements.txt, made by `make lock`), in a
# layer of their own; then the project itself, which adds no dependency.
COPY requirements.txt ./
RUN pip install --no-cache-dir --require-hashes -r requirements.txt
COPY pyproject.toml ./
COPY core ./core
COPY integration_portal ./integration_portal
COPY mindbox_integration ./mindbox_integration
COPY notifications ./notifications
COPY uis_data_api ./uis_data_api
RUN pip install --no-cache-dir --no-deps .

COPY . .
# collectstatic loads settings; a throwaway encryption key keeps a real one from being made in the image.
RUN DJANGO_SECRET_KEY=build FIELD_ENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput \
    && useradd --create-home portal && chown -R portal /app/var
USER portal

EXPOSE 8000
CMD ["python", "-m", "integration_portal.web"]
