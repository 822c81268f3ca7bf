#!/bin/sh
# The image's entrypoint. whisper-serve's commands (and options) go to the CLI; anything else runs
# as given, so `docker run -it whisper-serve bash` opens a shell. Off RunPod, `runpod` is the local
# test mode: a job file mounted at /test_input.json (-v $PWD/custom_test.json:/test_input.json)
# is run instead of the bundled sample.
set -e
app="$(cd "$(dirname "$0")" && pwd)"
mounted="${TEST_INPUT_MOUNT:-/test_input.json}"
# The ffmpeg/ffprobe pair docker/build-app.sh installed beside the app (the Dockerfile sets it too).
export FFMPEG_DIR="${FFMPEG_DIR:-$app/ffmpeg}"
case "${1:-runpod}" in
  runpod)
    if [ -z "${RUNPOD_WEBHOOK_GET_JOB:-}" ] && [ -f "$mounted" ]; then
      [ $# -gt 0 ] && shift
      set -- runpod --test-input-file "$mounted" "$@"
    fi
    ;;
  transcribe | serve | models | ffmpeg | bench | info | help | -*) ;;
  *) exec "$@" ;;
esac
exec node "$app/bin/whisper-serve.js" "$@"
