# Ringflow's image: `ringflow serve` by default; `ringflow worker` and `ringflow db upgrade` with
# another command (compose.yaml runs all three). docs/deployment.md explains the setup.
#
#   docker build -t ringflow .
#   docker run -e TWILIO_AUTH_TOKEN=... -e RINGFLOW_PUBLIC_URL=https://... -p 8080:8080 \
#     -v ringflow-data:/var/lib/ringflow ringflow
#
# PYTHON_IMAGE picks the base (the tests pass a local one when no registry is reachable);
# PIP_OPTIONS can point pip at a folder of wheels put in the build context as wheelhouse/
# (`--no-index --find-links /src`) for builds without the package index.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN python -m venv /opt/ringflow
# wheelhouse* matches nothing in an ordinary build; constraints.txt pins what CI tested.
COPY pyproject.toml README.md constraints.txt server.py wheelhouse* ./
COPY ringflow ringflow
COPY workflows workflows
COPY ivr ivr
COPY sms sms
COPY pbx pbx
COPY chat chat
COPY prompts prompts
ARG PIP_OPTIONS=""
RUN /opt/ringflow/bin/python -m pip install --no-cache-dir --no-compile ${PIP_OPTIONS} \
        -c constraints.txt . \
    && /opt/ringflow/bin/python -m compileall -q /opt/ringflow/lib

FROM ${PYTHON_IMAGE}
# ffmpeg converts uploaded prompts; libespeak-ng1 is the voice pyttsx3 speaks with; graphviz
# draws workflow diagrams.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg libespeak-ng1 graphviz \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/ringflow --create-home \
        --shell /usr/sbin/nologin ringflow
COPY --from=build /opt/ringflow /opt/ringflow
ENV PATH=/opt/ringflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RINGFLOW_DATA_DIR=/var/lib/ringflow \
    RINGFLOW_HOST=0.0.0.0 \
    RINGFLOW_PORT=8080
USER ringflow
WORKDIR /var/lib/ringflow
VOLUME ["/var/lib/ringflow"]
EXPOSE 8080
# Liveness of `ringflow serve` (compose.yaml turns it off for the worker and the migration).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('RINGFLOW_PORT', '8080') + '/healthz', timeout=4)"]
ENTRYPOINT ["ringflow"]
CMD ["serve"]
