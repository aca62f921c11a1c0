#!/usr/bin/env bash
# onnxruntime-web's files for the Translate tab's browser path (demo/device.py), from the pinned npm
# package into third_party/onnxruntime-web/ (git-ignored), where the app serves them itself. Without
# them the page loads the same version from a public CDN, checked by its integrity hash.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(python -c "from demo.device import ORT_WEB_VERSION; print(ORT_WEB_VERSION)" 2>/dev/null || echo 1.30.0)
target=third_party/onnxruntime-web
files=(ort.min.js ort-wasm-simd-threaded.jsep.mjs ort-wasm-simd-threaded.jsep.wasm)
if [ -f "$target/.version" ] && [ "$(cat "$target/.version")" = "$version" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "onnxruntime-web@$version" >/dev/null && tar xzf onnxruntime-web-*.tgz)
mkdir -p "$target"
for f in "${files[@]}"; do cp "$work/package/dist/$f" "$target/$f"; done
echo "$version" > "$target/.version"
