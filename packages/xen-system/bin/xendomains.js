#!/usr/bin/env node
// `xendomains`: starts the autostart domains at boot and stops every domain at shutdown.
import '../dist/src/xendomains-main.js';
