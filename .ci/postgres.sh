# Sourced by .ci/run: install (Debian) and start a throwaway PostgreSQL on 127.0.0.1:55432 for the
# multi-worker storage test, and export BSNAS_TEST_POSTGRES_URL. On failure the test skips, saying why.
bsnas_pg_start() {
  if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1
  fi
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$bin" ] || { echo "postgres: not available, its test will skip"; return 0; }
  BSNAS_PGDATA=$(mktemp -d /tmp/bsnas-pg.XXXXXX)
  chown postgres "$BSNAS_PGDATA"
  su postgres -c "$bin/initdb -D $BSNAS_PGDATA -A trust -U postgres" >/dev/null 2>&1 || { echo "postgres: initdb failed"; return 0; }
  su postgres -c "$bin/pg_ctl -D $BSNAS_PGDATA -l $BSNAS_PGDATA/server.log -w start -o '-p 55432 -k /tmp -c listen_addresses=127.0.0.1'" >/dev/null 2>&1 \
    || { echo "postgres: start failed"; return 0; }
  trap "su postgres -c '$bin/pg_ctl -D $BSNAS_PGDATA -m fast stop' >/dev/null 2>&1" EXIT
  export BSNAS_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:55432/postgres"
  echo "postgres: running at $BSNAS_TEST_POSTGRES_URL"
}
bsnas_pg_start
