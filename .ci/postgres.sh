# Sourced by .ci/run: install (Debian) and start a throwaway PostgreSQL on 127.0.0.1:55432 for the
# multi-worker storage test, and export BSNAS_TEST_POSTGRES_URL. Nothing here can stop CI: on any
# failure the URL stays unset and the test skips, saying why.
bsnas_pg_start() {
  local bin="" data=""
  if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq >/dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 || true
    fi
  fi
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1) || true
  if [ -z "$bin" ] || ! id postgres >/dev/null 2>&1; then
    echo "postgres: not available, its test will skip"
    return 0
  fi
  data=$(mktemp -d /tmp/bsnas-pg.XXXXXX) || return 0
  chown postgres "$data" || return 0
  su postgres -c "$bin/initdb -D $data -A trust -U postgres" >/dev/null 2>&1 || { echo "postgres: initdb failed"; return 0; }
  su postgres -c "$bin/pg_ctl -D $data -l $data/server.log -w start -o '-p 55432 -k /tmp -c listen_addresses=127.0.0.1'" \
    >/dev/null 2>&1 || { echo "postgres: start failed, see $data/server.log"; return 0; }
  trap "su postgres -c '$bin/pg_ctl -D $data -m fast stop' >/dev/null 2>&1 || true" EXIT
  export BSNAS_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:55432/postgres"
  echo "postgres: running at $BSNAS_TEST_POSTGRES_URL"
}
bsnas_pg_start
