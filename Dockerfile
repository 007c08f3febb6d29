# awsop operator image. Build: docker build -t ghcr.io/awsop/awsop:0.1.0 .
# Runs as uid 10001 with a read-only root filesystem: the only writable path is /tmp (HOME).
# Pin the base further by digest in CI if you need reproducible builds:
#   --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest>
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . .
# A self-contained virtualenv, copied whole into the runtime stage; versions pinned by constraints.txt.
# -P: the source tree has an operator/ folder that must not shadow the standard library module
RUN python -P -m venv /opt/awsop \
 && /opt/awsop/bin/pip install -c constraints.txt . \
 && find /opt/awsop -name '__pycache__' -type d -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/awsop/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 awsop \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin awsop
COPY --from=build /opt/awsop /opt/awsop
USER 10001:10001
WORKDIR /tmp
# /metrics, /healthz and /readyz (AWSOP_METRICS_PORT)
EXPOSE 8080
ENTRYPOINT ["awsop"]
CMD ["run"]
