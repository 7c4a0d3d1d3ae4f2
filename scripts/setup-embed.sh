#!/usr/bin/env bash
# What the embedding examples and their tests need: Node.js and the examples' npm packages,
# onnxruntime-web's files beside the page, and Chromium for the page's test.
# Safe to run again: each step is skipped when its result is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_ready=0
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "setup-embed: $* missing; install it (as root: apt-get install -y $*) and run this again" >&2
        exit 1
    fi
    if [ "$apt_ready" = 0 ]; then
        apt-get update -qq
        apt_ready=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm

# onnxruntime-node's install script would fetch extra binaries from outside the npm registry;
# the CPU binaries it needs are inside the npm package itself.
export ONNXRUNTIME_NODE_INSTALL=skip
for dir in examples/node examples/web; do
    stamp="$dir/node_modules/.setup-embed-$(sha256sum "$dir/package-lock.json" | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        touch "$stamp"
    fi
done

# The page loads onnxruntime-web's WebAssembly build from vendor/, beside it, so any static server serves it.
dist=examples/web/node_modules/onnxruntime-web/dist
mkdir -p examples/web/vendor
for file in ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm; do
    cmp -s "$dist/$file" "examples/web/vendor/$file" || cp "$dist/$file" examples/web/vendor/
done

command -v chromium >/dev/null || apt_install chromium
