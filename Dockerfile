# mediamon on the official Airflow image: the ingest package, its mappings and the DAGs.
#
#   docker build -t mediamon-airflow .        (docker compose builds it for you)
#
# One image serves every Airflow component, the Celery workers and the one-shot init step.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION
ARG PYTHON_VERSION

# The package is installed in place (editable) because it reads its index templates and
# Kibana objects from mappings/ next to the package.
WORKDIR /opt/mediamon
COPY --chown=airflow:0 pyproject.toml README.md LICENSE ./
COPY --chown=airflow:0 ingest ./ingest
COPY --chown=airflow:0 mappings ./mappings
COPY --chown=airflow:0 examples ./examples
COPY --chown=airflow:0 constraints ./constraints
# The deploy extra (Postgres driver, FAB auth manager, Celery provider) with the project's
# constraints for this Airflow and Python, as `make` installs them for the tests: pip cannot
# pick another Airflow or a broken Celery. Pinning apache-airflow keeps the image's version.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -e "/opt/mediamon[deploy]" \
      -c "/opt/mediamon/constraints/airflow-${AIRFLOW_VERSION}-py${PYTHON_VERSION}.txt"

COPY --chown=airflow:0 dags /opt/airflow/dags

WORKDIR /opt/airflow
