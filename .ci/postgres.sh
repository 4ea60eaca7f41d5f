# Sourced by `make test`: find or start a local PostgreSQL server and export its URL for the tests.
# Tests marked `postgres` read FUND_PIPELINE_TEST_PG_URL; without it they are skipped locally and
# fail in CI (CI=true).
if [ -n "${FUND_PIPELINE_TEST_PG_URL:-}" ]; then
  echo "PostgreSQL tests use FUND_PIPELINE_TEST_PG_URL from the environment."
elif command -v pg_lsclusters >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  if ! pg_lsclusters -h | grep -q "^$version main"; then
    pg_createcluster "$version" main >/dev/null
  fi
  pg_ctlcluster "$version" main start 2>/dev/null || true
  for _ in $(seq 1 30); do
    su postgres -c "pg_isready -q" && break
    sleep 1
  done
  su postgres -c "psql -qtAc \"alter user postgres password 'postgres'\"" >/dev/null
  su postgres -c "psql -qtAc \"select 1 from pg_database where datname='fund_pipeline_test'\"" | grep -q 1 \
    || su postgres -c "createdb fund_pipeline_test"
  port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')
  export FUND_PIPELINE_TEST_PG_URL="postgresql+psycopg2://postgres:postgres@127.0.0.1:${port}/fund_pipeline_test"
  echo "PostgreSQL tests use the local cluster $version/main on port $port."
else
  echo "No PostgreSQL server found (install Debian's postgresql, or set FUND_PIPELINE_TEST_PG_URL):"
  echo "the PostgreSQL tests will be skipped."
fi
