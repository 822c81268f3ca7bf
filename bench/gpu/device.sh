#!/usr/bin/env bash
# The GPU benchmark: `npm run bench:gpu` on a machine with an NVIDIA GPU and the CUDA toolkit, or
# on the lent device after bench/gpu/pack.sh (carry bench/.cache/gpu).
# Builds the addon with CUDA (all cores) unless the pack holds one built here (CUDA 13 from
# scripts/pypi-cuda-toolkit.sh, `cmake -B build-gpu … -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real`),
# writes a large-v3-turbo-shaped model, then on one card: real weights on the GPU against the CPU
# (`check`, when the pack has a model), the addon across MODEL_BATCH_SIZE and the transformers
# pipeline (batch 256, fp16). Results: $OUT (or bench/results) gpu-<time>.json and a table on stdout.
#   bash bench/gpu/device.sh [all|build|check|addon|hf|report]
# Steps, so that each fits one 10-minute call of the device tool on a machine kept warm between
# calls (build-gpu/ and $work survive there). Each step also leaves its JSON in $OUT. Default: all.
# Smoke run without a GPU (CUDA toolkit from scripts/pypi-cuda-toolkit.sh; torch for hf): BENCH_GPU=off
# BENCH_MINUTES=0.5 BENCH_BATCH_SIZES=1,2 BENCH_TOKENS=8 CUDA_ARCHITECTURES=75-virtual ("native" needs a GPU).
set -euo pipefail
cd "$(dirname "$0")/../.."
pack=bench/.cache/gpu
out=${OUT:-bench/results}
tokens=${BENCH_TOKENS:-64}
sizes=${BENCH_BATCH_SIZES:-1,2,4,8,16,32,64,128,256,512,1024}
work=${TMPDIR:-/tmp}/whisper-serve-gpu
step=${1:-all}
mkdir -p "$work" "$out"
want() { [ "$step" = all ] || [ "$step" = "$1" ]; }

if [ -f "$pack/node.xz" ] && ! node --version >/dev/null 2>&1; then
  xz -dc "$pack/node.xz" > "$work/node" && chmod +x "$work/node" && export PATH="$work:$PATH"
fi
node --version
# The CUDA runtime and cuBLAS the addon links: the toolkit's, else the ones PyTorch's wheels carry.
for d in /usr/local/cuda/lib64 $(python3 -c 'import glob, site; print(" ".join(glob.glob(site.getsitepackages()[0] + "/nvidia/cu13/lib")))' 2>/dev/null); do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || [ "${BENCH_GPU:-}" = off ]

# whisper.cpp source and the N-API headers: from the pack, else from node_modules.
if [ -f "$pack/whisper_serve.node.xz" ] || [ -f "$pack/prebuild.tar.xz" ]; then
  :  # prebuilt: no sources needed
elif [ -f "$pack/whisper-cpp.tar.xz" ]; then
  mkdir -p "$work/whisper.cpp" "$work/napi" && tar -C "$work/whisper.cpp" -xJf "$pack/whisper-cpp.tar.xz" && tar -C "$work/napi" -xJf "$pack/node-addon-api.tar.xz"
  export WHISPER_CPP_DIR="$work/whisper.cpp" NAPI_INC="$work/napi"
else
  export WHISPER_CPP_DIR=${WHISPER_CPP_DIR:-$(node third_party/whisper-cpp.mjs)} NAPI_INC=$(node -p "require('node-addon-api').include_dir")
fi
node_inc=$(dirname "$(dirname "$(command -v node)")")/include/node
[ -f "$node_inc/node_api.h" ] || node_inc=/usr/include/node
js=bench/gpu; [ -d "$pack/js" ] && js=$pack/js  # the pack's bundles need no node_modules
jfk=${JFK_WAV:-$pack/jfk.wav}; [ -f "$jfk" ] || jfk=../shared/audio/jfk.wav
vocab=$pack/vocab-large.bin; [ -f "$vocab" ] || vocab=../shared/models/for-tests-ggml-large.bin

# The addon, with CUDA for this card, straight through cmake (cmake-js is not needed for that);
# GGML_CUDA_NO_VMM as scripts/build-native.mjs sets it, so this measures what ships.
if [ -f "$pack/whisper_serve.node.xz" ]; then
  mkdir -p build-gpu && xz -dc "$pack/whisper_serve.node.xz" > build-gpu/whisper_serve.node
  ldd build-gpu/whisper_serve.node | grep -E "cuda|cublas|not found" || true
elif [ ! -f "$pack/prebuild.tar.xz" ] && want build; then
  t0=$(date +%s)
  cmake -S . -B build-gpu -G "$(command -v ninja >/dev/null && echo Ninja || echo 'Unix Makefiles')" -DCMAKE_BUILD_TYPE=Release \
    -DWHISPER_CPP_DIR="$WHISPER_CPP_DIR" -DGGML_CUDA=ON -DGGML_CUDA_NO_VMM=ON -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES:-native}" -DGGML_NATIVE=ON \
    -DCMAKE_JS_INC="$node_inc;$NAPI_INC" -DNODE_ADDON_API_DIR="$NAPI_INC" >/dev/null
  cmake --build build-gpu --parallel "$(nproc)" --target whisper_serve
  echo "build: $(( $(date +%s) - t0 )) s"
fi
export WHISPER_SERVE_ADDON=$PWD/build-gpu/whisper_serve.node
[ -f "$WHISPER_SERVE_ADDON" ] || WHISPER_SERVE_ADDON=$PWD/build-gpu/Release/whisper_serve.node
if [ -f "$pack/prebuild.tar.xz" ]; then
  # The prebuild as shipped: the CPU module for this host, and the CUDA variant the loader adds.
  mkdir -p "$work/prebuild" && tar -C "$work/prebuild" -xJf "$pack/prebuild.tar.xz"
  export WHISPER_SERVE_ADDON=$work/prebuild/whisper-serve.node
  ldd "$work/prebuild/cuda/libggml-cuda.so" | grep -E "cuda|cublas|not found" || true
  # An earlier addon beside it (pack.sh's PACK_BEFORE): the same modules, so only the addon differs.
  [ ! -f "$pack/before.node.xz" ] || xz -dc "$pack/before.node.xz" > "$work/prebuild/whisper-serve-before.node"
fi

model="$work/ggml-turbo-shaped.bin"
if want build; then [ -f "$model" ] || node $js/turbo-model.mjs "$model" "$vocab"; fi
if want check && [ -f "$pack/check-model.bin.xz" ]; then
  xz -dc "$pack/check-model.bin.xz" > "$work/check-model.bin"
  wavs=(); for f in "$pack"/check-*.wav.xz; do [ -f "$f" ] && xz -dc "$f" > "$work/$(basename "${f%.xz}")" && wavs+=("$work/$(basename "${f%.xz}")"); done
  echo '| config | engine | audio | batch | s | WER vs CPU | text |'; echo '| --- | --- | --- | ---: | ---: | ---: | --- |'
  for c in cpu gpu-fused gpu-softmax; do
    CHECK_CONFIG=$c CHECK_REFERENCE="$work/check-cpu.json" timeout 150 node $js/check.mjs "$work/check-model.bin" "$jfk" "${wavs[@]}" > "$work/check-$c.txt" || echo "| $c | exited $? |"
    grep '^|' "$work/check-$c.txt" || true
    tail -1 "$work/check-$c.txt" > "$out/check-$c.json"
  done
fi
# profile (only when named): per-kernel GPU time (ncu, clocks as found) of the turbo-shaped model's
# first kernels (its first encoder pass: one window, or BENCH_PROFILE_BATCH windows), summed by name.
if [ "$step" = profile ]; then
  [ -f "$model" ] || node $js/turbo-model.mjs "$model" "$vocab"
  ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
  pb=${BENCH_PROFILE_BATCH:-1}
  BENCH_MINUTES=$(( pb / 2 + 1 )) MODEL_BATCH_SIZE=$pb "$ncu" --clock-control none --launch-count "${BENCH_PROFILE_KERNELS:-900}" --csv --metrics gpu__time_duration.sum \
    --log-file "$out/ncu.csv" node $js/addon-once.mjs "$model" "$jfk" 8 >/dev/null || true
  python3 - "$out/ncu.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.DictReader(l for l in open(sys.argv[1]) if l.startswith('"'))]
by = collections.defaultdict(lambda: [0.0, 0])
for r in rows:
    v = float(r["Metric Value"].replace(",", ""))
    by[r["Kernel Name"][:90]][0] += v * {"ns": 1e-3, "nsecond": 1e-3, "us": 1, "usecond": 1, "ms": 1e3, "msecond": 1e3, "s": 1e6, "second": 1e6}[r["Metric Unit"]]
    by[r["Kernel Name"][:90]][1] += 1
total = sum(v for v, _ in by.values())
print(f"{len(rows)} kernels, {total/1e3:.2f} ms in all")
for name, (us, n) in sorted(by.items(), key=lambda kv: -kv[1][0])[:20]:
    print(f"{us/1e3:9.3f} ms {100*us/total:5.1f} % x{n:4d}  {name}")
PY
fi
if want addon; then
  node $js/sweep.mjs "$model" "$jfk" "$tokens" "$sizes" "$work/addon.json" && cp "$work/addon.json" "$out/"
  # BENCH_SOFTMAX_SIZES: the same without fused attention (the graphs a backend without it runs).
  if [ -n "${BENCH_SOFTMAX_SIZES:-}" ]; then
    BENCH_FLASH_ATTN=0 node $js/sweep.mjs "$model" "$jfk" "$tokens" "$BENCH_SOFTMAX_SIZES" "$out/addon-softmax.json" || true
  fi
  # BENCH_BEFORE_SIZES: the earlier addon (pack.sh's PACK_BEFORE) at these sizes, in the same call.
  if [ -n "${BENCH_BEFORE_SIZES:-}" ] && [ -f "$work/prebuild/whisper-serve-before.node" ]; then
    WHISPER_SERVE_ADDON=$work/prebuild/whisper-serve-before.node node $js/sweep.mjs "$model" "$jfk" "$tokens" "$BENCH_BEFORE_SIZES" "$work/addon-before.json" \
      && cp "$work/addon-before.json" "$out/" || true
  fi
fi
if want hf; then
  timeout "${BENCH_HF_TIMEOUT:-600}" python3 bench/gpu/hf_pipeline.py "$jfk" "$tokens" 256 > "$work/hf.json" || echo '{"error": "transformers pipeline failed"}' > "$work/hf.json"
  cp "$work/hf.json" "$out/"
fi
want report || exit 0
[ -f "$work/addon.json" ] || echo '[]' > "$work/addon.json"
[ -f "$work/hf.json" ] || echo '{"error": "step not run"}' > "$work/hf.json"
[ -f "$work/addon-before.json" ] || echo '[]' > "$work/addon-before.json"
stamp=$(date -u +%Y-%m-%dT%H-%M-%SZ)
node -e '
const [addonFile, hfFile, out, tokens, beforeFile] = process.argv.slice(1);
const fs = require("fs");
const addon = JSON.parse(fs.readFileSync(addonFile, "utf8"));
const before = JSON.parse(fs.readFileSync(beforeFile, "utf8"));
const hf = JSON.parse(fs.readFileSync(hfFile, "utf8"));
const ok = addon.filter((r) => r.wall_seconds);
const best = ok.reduce((a, b) => (b.wall_seconds < a.wall_seconds ? b : a), ok[0]);
const report = { date: new Date().toISOString(), tokens_per_window: Number(tokens), addon, addon_before: before, hf, best_batch_size: best?.batch_size, speedup_vs_hf: best && hf.wall_seconds ? hf.wall_seconds / best.wall_seconds : null };
fs.writeFileSync(out, JSON.stringify(report, null, 2));
const row = (c) => `| ${c.join(" | ")} |`;
console.log(row(["engine", "wall s", "x real time", "first result s", "cold start s", "peak VRAM MiB"]));
console.log(row(["---", "---:", "---:", "---:", "---:", "---:"]));
for (const r of [...addon, ...before.map((b) => ({ ...b, label: " (before)" }))]) console.log(row([`whisper-serve MODEL_BATCH_SIZE=${r.batch_size}${r.label ?? ""}`, r.wall_seconds?.toFixed(1) ?? r.error, r.realtime_factor?.toFixed(0) ?? "", r.time_to_first_result_seconds?.toFixed(1) ?? "", r.cold_start_seconds?.toFixed(1) ?? "", r.peak_vram_mib ?? ""]));
console.log(row([hf.engine ?? "transformers pipeline", hf.wall_seconds?.toFixed(1) ?? hf.error, hf.realtime_factor?.toFixed(0) ?? "", hf.time_to_first_result_seconds?.toFixed(1) ?? "", hf.cold_start_seconds?.toFixed(1) ?? "", hf.peak_vram_mib?.toFixed(0) ?? ""]));
console.log(`best: MODEL_BATCH_SIZE=${report.best_batch_size}, ${report.speedup_vs_hf?.toFixed(2)}x the pipeline; wrote ${out}`);
' "$work/addon.json" "$work/hf.json" "$out/gpu-$stamp.json" "$tokens" "$work/addon-before.json"
