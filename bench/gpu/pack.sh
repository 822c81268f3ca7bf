#!/usr/bin/env bash
# Packs what the GPU machine cannot download into bench/.cache/gpu (git-ignored; the device tool
# carries at most 64 MiB): this Node binary (xz), the bench scripts bundled (esbuild), jfk.wav and a multilingual vocabulary (from
# whisper.cpp's weightless large test model), and one of
#   - the prebuild with its CUDA variant (prebuilds/linux-x64/cuda/libggml-cuda.so, from
#     `WHISPER_SERVE_CUDA=1 CUDA_ARCHITECTURES=90-real npm run build:prebuild`): what users and the
#     Docker image run, the variant loaded by lib/native/variants.ts,
#   - the CUDA addon built here (build-gpu/, see device.sh's header), when it exists: no compiling
#     on the lent machine, or
#   - the whisper.cpp source tree and node-addon-api's headers, to build it there;
# and, given as arguments, a real-weights model and WAV files for device.sh's `check` step (xz).
# PACK_BEFORE=<whisper-serve.node>: an earlier build of the prebuild's addon, which device.sh runs
# beside the current one on the same card (BENCH_BEFORE_SIZES) for a before/after in one call.
#   bash bench/gpu/pack.sh [model.bin [speech.wav ...]]
# Then run there:  bash bench/gpu/device.sh   (the `device` tool: carry bench/.cache/gpu)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/.cache/gpu
rm -rf "$out" && mkdir -p "$out"
npm run build:ts --silent
# The Node scripts as single files with their dependencies inside: no node_modules there.
for f in sweep addon-once check turbo-model; do
  node_modules/.bin/esbuild "bench/gpu/$f.mjs" --bundle --platform=node --format=esm --outfile="$out/js/$f.mjs" --log-level=warning \
    --banner:js="import { createRequire as bundleRequire } from 'node:module'; const require = bundleRequire(import.meta.url);"
done
strip -o "$out/node" "$(command -v node)" && xz -T0 -9e "$out/node"  # Node's own binary carries 12 MB of symbols
if [ -f prebuilds/linux-x64/cuda/libggml-cuda.so ]; then
  tar -C prebuilds/linux-x64 -cf - . | xz -T0 -9 > "$out/prebuild.tar.xz"
  [ -z "${PACK_BEFORE:-}" ] || xz -9 -c "$PACK_BEFORE" > "$out/before.node.xz"
elif [ -f build-gpu/whisper_serve.node ]; then
  strip -o "$out/whisper_serve.node" build-gpu/whisper_serve.node && xz -T0 -9 "$out/whisper_serve.node"
else
  wcpp=$(node third_party/whisper-cpp.mjs)
  tar -C "$wcpp" -cJf "$out/whisper-cpp.tar.xz" --exclude=bindings --exclude=examples --exclude=tests --exclude=models --exclude=samples .
  tar -C "$(node -p "require('node-addon-api').include_dir")" -cJf "$out/node-addon-api.tar.xz" .
fi
cp ../shared/audio/jfk.wav "$out/jfk.wav"
cp ../shared/models/for-tests-ggml-large.bin "$out/vocab-large.bin"
if [ $# -gt 0 ]; then
  xz -T0 -9 -c "$1" > "$out/check-model.bin.xz"
  shift
  for wav in "$@"; do xz -T0 -9 -c "$wav" > "$out/check-$(basename "$wav").xz"; done
fi
du -sh "$out"
