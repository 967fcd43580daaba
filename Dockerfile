# One image for every role: web, connector, worker (docker-compose.yml picks the command).
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg espeak-ng curl \
 && rm -rf /var/lib/apt/lists/*
# Same uid/gid as the Asterisk image (1000) so recordings in the shared spool are readable.
RUN groupadd -g 1000 cc && useradd -u 1000 -g 1000 -m cc
# The data dir exists in the image with its owner, so a new named volume mounted on it
# (docker-compose.yml: connector-data, worker-data) starts out writable by uid 1000.
RUN mkdir -p /var/lib/contact-center && chown cc:cc /var/lib/contact-center
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contact_center ./contact_center
RUN pip install --no-cache-dir .
COPY ivr_menus ./ivr_menus
COPY tariffs ./tariffs
USER cc
ENV CC_GENERAL_DATA_DIR=/var/lib/contact-center
EXPOSE 8080 4573
ENTRYPOINT ["contact-center"]
CMD ["serve", "--role", "all"]
