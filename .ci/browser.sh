# Sourced by .ci/run before `make test`: what the camera-path editor's browser tests need.
#   Debian's chromium (never a downloaded browser) and Node.js, plus tests/js/node_modules
#   (playwright-core, pinned by tests/js/package-lock.json) through `npm ci`.
# VIDGEN_REQUIRE_BROWSER=1 (always set here) turns the editor tests' "skipped: no
# browser/node" into a failure; screenshots land in $VIDGEN_ARTIFACTS/editor/. Needs root
# and apt-get for the system packages; elsewhere whatever is installed is used, and what
# is missing fails the browser tests. The real-ComfyUI browser tests need COMFYUI_DIR
# (not in CI: they skip, and the run's summary says so).
vidgen_ci_browser() {
    # required in CI: a browser test that cannot run fails the build (set before any
    # install attempt, so a failed install cannot silently turn them into skips)
    export VIDGEN_REQUIRE_BROWSER=1
    local need=()
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    command -v node >/dev/null 2>&1 || need+=(nodejs)
    command -v npm >/dev/null 2>&1 || need+=(npm)
    if [ ${#need[@]} -gt 0 ]; then
        if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
            echo "ci: not root or no apt-get: cannot install ${need[*]}; the editor browser tests will FAIL" >&2
            return 0
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${need[@]}" fonts-dejavu-core >/dev/null
    fi
    (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
    export VIDGEN_ARTIFACTS="${VIDGEN_ARTIFACTS:-/tmp/vidgen-ci-artifacts}"
    echo "ci: $(chromium --version 2>/dev/null | tail -n 1), node $(node --version); editor screenshots -> $VIDGEN_ARTIFACTS/editor" >&2
}
vidgen_ci_browser
