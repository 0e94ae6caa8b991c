#!/bin/sh
# Render the rack proxy's nginx config from nginx.conf.template and the environment.
# The proxy container runs this from /docker-entrypoint.d/ before nginx starts; the
# tests run it unchanged against the fake ComfyUI. Refuses (exit 1) rather than open
# the rack: no token, a short or odd token, a duplicate token, a malformed upstream.
#
#   VIDGEN_UPSTREAMS        "gpu0=comfyui-gpu0:8188 gpu1=comfyui-gpu1:8188" (required)
#   VIDGEN_TOKEN_<CLIENT>   one per client, >= 32 chars of A-Za-z0-9_- (client = lower-cased name;
#                           an empty one is skipped)
#   VIDGEN_PROXY_LISTEN     "8443" (default) or "127.0.0.1:8080"
#   VIDGEN_PROXY_TLS        on|off (default off); VIDGEN_TLS_CERT / VIDGEN_TLS_KEY (PEM paths)
#   VIDGEN_PROXY_OUT        rendered file (default /tmp/nginx/nginx.conf); includes go next to it
#   VIDGEN_PROXY_RUN_DIR    pid + temp files (default /tmp/nginx)
#   VIDGEN_RESOLVER         DNS for upstream names (default 127.0.0.11, Docker's)
#   VIDGEN_PROXY_ACCESS_LOG / VIDGEN_PROXY_ERROR_LOG (default /dev/stdout, /dev/stderr)
set -eu

die() {
    echo "vidgen-proxy: $*" >&2
    exit 1
}

here=$(cd "$(dirname "$0")" && pwd)
template=${VIDGEN_PROXY_TEMPLATE:-$here/nginx.conf.template}
out=${VIDGEN_PROXY_OUT:-/tmp/nginx/nginx.conf}
run_dir=${VIDGEN_PROXY_RUN_DIR:-/tmp/nginx}
listen=${VIDGEN_PROXY_LISTEN:-8443}
tls=${VIDGEN_PROXY_TLS:-off}
resolver=${VIDGEN_RESOLVER:-127.0.0.11}
access_log=${VIDGEN_PROXY_ACCESS_LOG:-/dev/stdout}
error_log=${VIDGEN_PROXY_ERROR_LOG:-/dev/stderr}
upstreams=${VIDGEN_UPSTREAMS:-}
conf_dir=$(dirname "$out")/vidgen
routes='prompt|ws|queue|interrupt|free|system_stats|upload/image|view|history(?:/[A-Za-z0-9._-]+)?|object_info(?:/[A-Za-z0-9._-]+)?'

[ -r "$template" ] || die "template $template is not readable"
[ -n "$upstreams" ] || die "VIDGEN_UPSTREAMS is empty: list name=host:port for each ComfyUI"
for v in "$out" "$run_dir" "$listen" "$resolver" "$access_log" "$error_log"; do
    case $v in *[!A-Za-z0-9_./:@-]*) die "unsafe character in setting '$v'" ;; esac
done
mkdir -p "$conf_dir" "$run_dir"

# ---- client tokens
tokens="$conf_dir/vidgen-tokens.map"
: >"$tokens.tmp"
n=0
for var in $(env | sed -n 's/^\(VIDGEN_TOKEN_[A-Za-z0-9_]*\)=.*/\1/p' | sort); do
    value=$(printenv "$var")
    [ -n "$value" ] || continue # an optional client left empty in .env
    client=$(printf '%s' "${var#VIDGEN_TOKEN_}" | tr 'A-Z' 'a-z')
    [ -n "$client" ] || die "$var: needs a client name after VIDGEN_TOKEN_"
    case $value in
        '' | *[!A-Za-z0-9_-]*)
            die "$var: a token is >= 32 characters of A-Za-z0-9_- (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" ;;
    esac
    [ "${#value}" -ge 32 ] || die "$var: token has ${#value} characters, at least 32 are required"
    printf '"~^Bearer %s$" "%s";\n' "$value" "$client" >>"$tokens.tmp"
    n=$((n + 1))
done
[ "$n" -gt 0 ] || die "no VIDGEN_TOKEN_<CLIENT> set: refusing to start an open proxy"
dup=$(sed 's/ "[^"]*";$//' "$tokens.tmp" | sort | uniq -d)
[ -z "$dup" ] || die "two clients share one token: give every client its own"
chmod 600 "$tokens.tmp"
mv "$tokens.tmp" "$tokens"

# ---- one location per ComfyUI instance
locations="$conf_dir/vidgen-locations.conf"
: >"$locations.tmp"
for pair in $upstreams; do
    name=${pair%%=*}
    target=${pair#*=}
    case $name in '' | *[!A-Za-z0-9_-]*) die "VIDGEN_UPSTREAMS: bad instance name in '$pair'" ;; esac
    case $target in
        *[!A-Za-z0-9.:-]* | :* | *: | *[!0-9]) die "VIDGEN_UPSTREAMS: '$pair' must be name=host:port" ;;
        *:*) ;;
        *) die "VIDGEN_UPSTREAMS: '$pair' must be name=host:port" ;;
    esac
    cat >>"$locations.tmp" <<LOC
location ~ ^/$name(?<vidgen_path>/(?:$routes))\$ {
    if (\$vidgen_client = "") {
        return 401;
    }
    set \$vidgen_upstream $target;
    proxy_pass http://\$vidgen_upstream\$vidgen_path\$is_args\$args;
}
LOC
done
mv "$locations.tmp" "$locations"

# ---- TLS (terminate here; certificates are mounted, never baked into an image)
tls_conf="$conf_dir/vidgen-tls.conf"
case $tls in
    on)
        cert=${VIDGEN_TLS_CERT:-/etc/vidgen/tls/fullchain.pem}
        key=${VIDGEN_TLS_KEY:-/etc/vidgen/tls/privkey.pem}
        [ -r "$cert" ] || die "VIDGEN_PROXY_TLS=on but the certificate $cert is not readable"
        [ -r "$key" ] || die "VIDGEN_PROXY_TLS=on but the key $key is not readable"
        listen="$listen ssl"
        printf 'ssl_certificate %s;\nssl_certificate_key %s;\nssl_protocols TLSv1.2 TLSv1.3;\nssl_session_cache shared:vidgen_tls:10m;\nssl_session_timeout 1h;\n' \
            "$cert" "$key" >"$tls_conf"
        ;;
    off) printf '# TLS off: set VIDGEN_PROXY_TLS=on with VIDGEN_TLS_CERT/VIDGEN_TLS_KEY\n' >"$tls_conf" ;;
    *) die "VIDGEN_PROXY_TLS must be on or off, got '$tls'" ;;
esac

sed -e "s|@RUN_DIR@|$run_dir|g" -e "s|@CONF_DIR@|$conf_dir|g" -e "s|@LISTEN@|$listen|g" \
    -e "s|@RESOLVER@|$resolver|g" -e "s|@ACCESS_LOG@|$access_log|g" \
    -e "s|@ERROR_LOG@|$error_log|g" "$template" >"$out.tmp"
mv "$out.tmp" "$out"
echo "vidgen-proxy: $n client token(s), instances: $upstreams, tls $tls -> $out" >&2
