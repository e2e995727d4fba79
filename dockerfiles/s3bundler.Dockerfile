# s3bundler: the queue worker (ECS service). Build with `make images` (tools/build_images.py),
# which first puts the project and its runtime dependencies as wheels into wheelhouse/ of the
# build context; nothing is downloaded or compiled inside the build (it runs with no network).
# Base: any image with python3 (3.11, the wheelhouse's version) and its venv module, e.g. the
# official python:3.11-slim or a plain Debian bookworm with python3. See docs/containers.md.
ARG BASE_IMAGE=python:3.11-slim

# --- install: a venv at /opt/s3bundler from the wheelhouse (same stage in both Dockerfiles) ---
FROM ${BASE_IMAGE} AS install
COPY wheelhouse/pip.whl wheelhouse/deps/ /wheels/deps/
# pip runs from its wheel (not installed); then drop pyarrow parts the project never loads:
# C++ headers, Cython sources, its own tests, Flight RPC.
RUN python3 -m venv --without-pip /opt/s3bundler \
 && /opt/s3bundler/bin/python /wheels/deps/pip.whl/pip install --no-index --no-cache-dir \
      --disable-pip-version-check --only-binary :all: --find-links /wheels/deps \
      --requirement /wheels/deps/requirements.txt \
 && cd /opt/s3bundler/lib/python3*/site-packages/pyarrow \
 && rm -rf include tests _pyarrow_cpp_tests.* *.pyx *.pxd *.pxi \
      _flight.* flight.py libarrow_flight.* libarrow_python_flight.* \
 && find /opt/s3bundler -name '*.h' -delete
COPY wheelhouse/project/ /wheels/project/
RUN /opt/s3bundler/bin/python /wheels/deps/pip.whl/pip install --no-index --no-cache-dir \
      --disable-pip-version-check --no-deps /wheels/project/*.whl \
 && /opt/s3bundler/bin/python -c "import s3bundler.cli, s3grouper.cli, pyarrow.compute, \
      pyarrow.csv, pyarrow.dataset, pyarrow.orc, pyarrow.parquet" \
 && /opt/s3bundler/bin/s3bundler --help >/dev/null && /opt/s3bundler/bin/s3grouper --help >/dev/null

# --- the image: the base plus the venv, run as an unprivileged user ---
FROM ${BASE_IMAGE}
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin s3bundler
COPY --from=install /opt/s3bundler /opt/s3bundler
ENV PATH=/opt/s3bundler/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /tmp
# dumb-init (PID 1) forwards SIGTERM to the CLI, which aborts its multipart upload, releases the
# SQS message and exits 143. Arguments after the image name are s3bundler's own.
ENTRYPOINT ["/opt/s3bundler/bin/dumb-init", "--", "/opt/s3bundler/bin/s3bundler"]
CMD ["--help"]
