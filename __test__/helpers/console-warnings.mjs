/** The `console.warn` lines written while `fn` runs (the SDK's default writer). */
export async function consoleWarnings(fn) {
  const lines = [];
  const original = console.warn;
  console.warn = (...args) => lines.push(args.map(String).join(' '));
  try {
    await fn();
  } finally {
    console.warn = original;
  }
  return lines;
}
