#!/usr/bin/env bash
# Installs, builds and runs the whole test suite: the Release build's tests, then the file-parsing
# and tokenizer tests (including the GGUF mutation test) and the HTTP server tests again under
# AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
ctest --test-dir build --output-on-failure -j2
# At -O1 (as the sanitizers' documentation advises): at -O2 the sanitized build of the unrolled
# register tiles (kernels/packed_tile.cc) alone took 25-30 min on a 2-vCPU machine, at -O1 8 min.
cmake -S . -B build-asan -G Ninja -DSCULPT_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g -DNDEBUG" >/dev/null
cmake --build build-asan --target gguf_test gguf_fuzz_test tokenizer_test server_test
ctest --test-dir build-asan -R "^(Gguf|Tokenizer|Server)" --output-on-failure -j2
