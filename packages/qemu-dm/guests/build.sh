#!/bin/sh
# Rebuilds the test guests (needs Debian's clang lld wasi-libc libclang-rt-14-dev-wasm32).
# The .wasm files are committed, so `npm install` does not need a C toolchain.
set -e
cd "$(dirname "$0")"
clang --target=wasm32-wasi -O2 -s -o hvmtest.wasm hvmtest.c
