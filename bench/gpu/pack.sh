#!/usr/bin/env bash
# Packs what the GPU machine cannot download into bench/.cache/gpu (git-ignored, < 64 MiB):
# this Node binary (xz), the whisper.cpp source tree, node-addon-api's headers, jfk.wav and a
# multilingual vocabulary (from whisper.cpp's weightless large test model).
# Then run there:  bash bench/gpu/device.sh   (the `device` tool: carry bench/.cache/gpu and dist)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=bench/.cache/gpu
mkdir -p "$out"
npm run build:ts --silent
[ -f "$out/node.xz" ] || xz -T0 -6 -c "$(command -v node)" > "$out/node.xz"
wcpp=$(node third_party/whisper-cpp.mjs)
tar -C "$wcpp" -cJf "$out/whisper-cpp.tar.xz" --exclude=bindings --exclude=examples --exclude=tests --exclude=models --exclude=samples .
tar -C "$(node -p "require('node-addon-api').include_dir")" -cJf "$out/node-addon-api.tar.xz" .
cp ../shared/audio/jfk.wav "$out/jfk.wav"
cp ../shared/models/for-tests-ggml-large.bin "$out/vocab-large.bin"
du -sh "$out"
