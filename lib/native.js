'use strict';

// Loads the compiled addon through the loader that `napi build` generates,
// turning "no binary for this platform" into an error that says what to do.

let native;
try {
  native = require('../native.js');
} catch (cause) {
  const platform = `${process.platform}-${process.arch}`;
  const err = new Error(
    `@execlave/sdk has no native binary for ${platform} (Node ${process.version}). ` +
      'Reinstall without --no-optional / --omit=optional so npm can fetch the ' +
      `platform package (@execlave/sdk-${platform}-…), or build from source with ` +
      '`npm run build` (needs Rust).',
    { cause },
  );
  err.code = 'EXECLAVE_NO_NATIVE_BINARY';
  throw err;
}

module.exports = native;
