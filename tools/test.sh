#!/usr/bin/env bash
# Installs, builds and runs the whole test suite: the Release build's tests, then the file-parsing
# and tokenizer tests (including the GGUF mutation test) and the HTTP server tests again under
# AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
ctest --test-dir build --output-on-failure -j2
cmake -S . -B build-asan -G Ninja -DSCULPT_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-asan --target gguf_test gguf_fuzz_test tokenizer_test server_test
ctest --test-dir build-asan -R "^(Gguf|Tokenizer|Server)" --output-on-failure -j2
