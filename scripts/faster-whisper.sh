#!/usr/bin/env bash
# faster-whisper, pinned, in a venv of its own (models/.cache/faster-whisper): the reference the
# multilingual tests (test/languages.test.ts) and `npm run bench` compare against, on the very
# CTranslate2 weights our ggml files are imported from.
#   bash scripts/faster-whisper.sh   then: models/.cache/faster-whisper/bin/python …
set -euo pipefail
cd "$(dirname "$0")/.."
venv=models/.cache/faster-whisper
want="faster-whisper==1.2.1"
if [ -f "$venv/.installed" ] && [ "$(cat "$venv/.installed")" = "$want" ]; then exit 0; fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$want"
echo "$want" >"$venv/.installed"
