# whisper-serve: RunPod worker (default) or HTTP server, with the CUDA build of the addon.
#   docker build -t whisper-serve .                                  # no model inside: mount one
#   docker build --build-arg MODEL=large-v3-turbo -t whisper-serve . # bake a checksum-verified model in
#   docker run --gpus all -v $PWD/models:/whisper_model_cache whisper-serve              # RunPod worker
#   docker run --gpus all -p 8000:8000 whisper-serve serve --host 0.0.0.0                # HTTP API
#   docker run -v $PWD/custom_test.json:/test_input.json whisper-serve                 # local test mode, your job
#   docker run -it whisper-serve bash                                                  # a shell inside
ARG CUDA_VERSION=12.4.1
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS node

# ---- build: the CUDA toolkit, cmake and a compiler; builds the addon and the TypeScript ----
FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu22.04 AS build
# Empty: scripts/build-native.mjs's portable list (machine code for compute capability 7.5 to 9.0).
ARG CUDA_ARCHITECTURES=
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cmake ninja-build g++ make python3 python3-pip ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
COPY --from=node /usr/local/include/node /usr/local/include/node
# node-gyp (the prebuild, better-sqlite3) compiles against these headers instead of downloading them.
ENV npm_config_nodedir=/usr/local
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && node --version && npm --version
WORKDIR /src
COPY . .
# The CPU prebuild plus its CUDA variant (prebuilds/linux-x64/cuda/libggml-cuda.so). No driver
# (libcuda) is linked (GGML_CUDA_NO_VMM): the image starts without --gpus too, and runs on the
# CPU module that fits the host with one log line saying why.
ENV WHISPER_SERVE_CUDA=1 CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES}
RUN sh docker/build-app.sh /app \
 && mkdir -p /cuda-libs && cp -P /usr/local/cuda/lib64/libcublas.so.12* /usr/local/cuda/lib64/libcublasLt.so.12* /cuda-libs/

# ---- runtime: CUDA base (driver API + cudart) + cuBLAS, Node 20; ffmpeg 8 is the static pair from PyPI (in /app/ffmpeg) ----
FROM nvidia/cuda:${CUDA_VERSION}-base-ubuntu22.04
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 whisper \
 && mkdir -p /whisper_model_cache && chown whisper /whisper_model_cache
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=build /cuda-libs/ /usr/local/lib/cublas/
RUN echo /usr/local/lib/cublas > /etc/ld.so.conf.d/cublas.conf && ldconfig
WORKDIR /app
COPY --from=build /app /app
ENV NODE_ENV=production \
    WHISPER_MODEL=large-v3-turbo \
    WHISPER_MODEL_CACHE=/whisper_model_cache \
    FFMPEG_DIR=/app/ffmpeg \
    WHISPER_GPU=auto \
    HOST=0.0.0.0 \
    PORT=8000 \
    LOG_LEVEL=info
# MODEL_BATCH_SIZE: unset = chosen from free VRAM at start (logged); set it to pin one.
# Bake a model in at build time (downloaded from the registry URL, checksum-verified), or mount one.
ARG MODEL=
RUN if [ -n "$MODEL" ]; then node bin/whisper-serve.js models pull "$MODEL" && chown -R whisper /whisper_model_cache; fi
USER whisper
EXPOSE 8000
# Server mode answers /health; the RunPod worker has no port, so there a live process is healthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(process.env.RUNPOD_WEBHOOK_GET_JOB?0:1))"
# whisper-serve commands go to the CLI, anything else runs as given (`docker run -it whisper-serve bash`).
ENTRYPOINT ["/app/entrypoint.sh"]
CMD ["runpod"]
