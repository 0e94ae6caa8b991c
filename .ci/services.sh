# Sourced by .ci/run before `make test`: real servers for the rack tests, on loopback only.
#   PostgreSQL (Debian package) -> VIDGEN_TEST_PG_URL  (tests/test_ledger_pg*.py)
#   nginx      (Debian package) -> VIDGEN_NGINX        (tests/test_rack*.py)
# VIDGEN_REQUIRE_SERVICES=1 turns the tests' "skipped: no server" into a failure, so a
# broken setup can never pass CI silently. Needs root and apt-get; elsewhere the tests skip.
vidgen_ci_services() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "ci: not root or no apt-get: PostgreSQL/nginx tests will be skipped" >&2
        return 0
    fi
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -x /usr/sbin/nginx ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            postgresql nginx >/dev/null
    fi
    # the distribution's own nginx site listens on *:80: never leave it running
    if [ -f /run/nginx.pid ]; then /usr/sbin/nginx -s quit 2>/dev/null || true; fi

    local ver port=55432 cluster=vidgen_ci pw
    ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    if ! pg_lsclusters -h | awk '{print $2}' | grep -x "$cluster" >/dev/null; then
        pg_createcluster "$ver" "$cluster" -p "$port" >/dev/null
    fi
    local conf="/etc/postgresql/$ver/$cluster/conf.d/vidgen-ci.conf"
    printf "listen_addresses = '127.0.0.1'\nport = %s\n" "$port" >"$conf"
    # the server runs as postgres: readable whatever umask this shell has (and a file
    # left unreadable by an earlier run under umask 077 is repaired)
    chown postgres:postgres "$conf" && chmod 0644 "$conf"
    # started as the cluster owner (postgres); pg_ctlcluster drops root itself
    pg_ctlcluster "$ver" "$cluster" status >/dev/null 2>&1 || pg_ctlcluster "$ver" "$cluster" start
    pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    # UTF-8 whatever locale this shell has: a cluster made under LC_ALL=C defaults to
    # SQL_ASCII, where psycopg hands text back as bytes (a database made that way by an
    # earlier run is dropped and made again)
    runuser -u postgres -- psql -q -p "$port" -v ON_ERROR_STOP=1 -d postgres <<SQL >/dev/null
SELECT 'CREATE ROLE vidgen LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vidgen')\gexec
ALTER ROLE vidgen PASSWORD '$pw';
SELECT 'DROP DATABASE vidgen_test' FROM pg_database
 WHERE datname = 'vidgen_test' AND pg_encoding_to_char(encoding) <> 'UTF8'\gexec
SELECT 'CREATE DATABASE vidgen_test OWNER vidgen ENCODING ''UTF8'' LOCALE ''C'' TEMPLATE template0'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'vidgen_test')\gexec
SQL
    export VIDGEN_TEST_PG_URL="postgresql://vidgen:$pw@127.0.0.1:$port/vidgen_test"
    export VIDGEN_NGINX=/usr/sbin/nginx
    export VIDGEN_REQUIRE_SERVICES=1
    echo "ci: PostgreSQL $ver on 127.0.0.1:$port, nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///')" >&2
}
vidgen_ci_services
