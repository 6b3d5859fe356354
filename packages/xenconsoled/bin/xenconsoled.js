#!/usr/bin/env node
// The `xenconsoled` command; its code is compiled to dist/ by `npm run build`.
import '../dist/src/main.js';
