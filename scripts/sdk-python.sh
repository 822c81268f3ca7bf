#!/usr/bin/env bash
# The official Python clients users point at whisper-serve, for test/python-sdks.test.ts: OpenAI's
# SDK (/v1/audio/*) and RunPod's (Endpoint: /run, /status, /stream, /cancel, /health, …), pinned,
# installed from PyPI into models/.cache/sdk-python (pip --target: no venv module needed).
#   bash scripts/sdk-python.sh   then: PYTHONPATH=models/.cache/sdk-python python3 …
set -euo pipefail
cd "$(dirname "$0")/.."
dir=models/.cache/sdk-python
want="openai==3.57.0 runpod==1.12.0"
if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ]; then exit 0; fi
rm -rf "$dir"
# shellcheck disable=SC2086
python3 -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --root-user-action=ignore --target "$dir" $want
echo "$want" >"$dir/.installed"
