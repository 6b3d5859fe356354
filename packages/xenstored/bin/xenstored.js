#!/usr/bin/env node
// The `xenstored` command; its code is compiled to dist/ by `npm run build`.
// This stub exists before the build so that `npm install` links the bin.
import '../dist/src/main.js';
