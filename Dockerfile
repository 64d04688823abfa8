# One image for the three services (PocketBase, gateway, worker); docker-compose.yml picks the
# command. The package is installed in editable mode on purpose: the code finds pb_migrations/,
# pb_hooks/, hosted_flow/ and wsgi.py beside the gateway package (REPO_ROOT), so they must live in
# the same tree as the imported code rather than in site-packages.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# tesseract-ocr reads MRZs; fonts-ocr-b is the MRZ font (see scripts/install).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        tesseract-ocr fonts-ocr-b \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 ekyc \
    && useradd --system --uid 10001 --gid ekyc --home-dir /app --shell /usr/sbin/nologin ekyc

WORKDIR /app
# Dependencies first (pinned in pyproject.toml), so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip install -e .

COPY wsgi.py ./
COPY pb_migrations ./pb_migrations
COPY pb_hooks ./pb_hooks
COPY hosted_flow ./hosted_flow

# EKYC_HOME holds the Huey queue, generated secrets and metrics files; PocketBase keeps its data
# in its own volume. Both belong to the unprivileged user.
RUN mkdir -p /data /pb_data && chown ekyc:ekyc /data /pb_data
USER ekyc:ekyc
ENV EKYC_HOME=/data \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8000

EXPOSE 8000 8090
CMD ["ekyc", "serve"]
