#!/usr/bin/env node
// `xen-install`: installs the suite system-wide; its code is compiled to dist/ by `npm run build`.
import '../dist/src/install-main.js';
