// Before/after comparison of the MCP bench, side by side in one session:
//
//   node bench/compare.mjs /path/to/baseline-checkout [rounds] [--bench=FILE] [bench options]
//
// The baseline is another checkout of this repository with its addon built
// (`npm run build` there). Each round runs one pass of bench/call-tool.mjs
// from the baseline and one from this checkout, alternating which goes
// first, so that a noisy stretch of the machine hits both alike. Each side's
// figure per variant is the median of its per-run medians of paired ratios.
// `--bench=policy-scale.mjs` compares that bench instead (its MCP rows;
// other options, such as `--sizes=200`, are passed on to it); each side
// runs its own copy, so the baseline's must take the same options.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resolve, join } from 'node:path';
import { median } from './paired.mjs';

const here = resolve(fileURLToPath(import.meta.url), '../..');
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const options = process.argv.slice(2).filter((a) => a.startsWith('--'));
const baseline = positional[0];
const rounds = Number(positional[1] ?? 5);
const bench = (options.find((a) => a.startsWith('--bench=')) ?? '--bench=call-tool.mjs').slice('--bench='.length);
const passed = options.filter((a) => !a.startsWith('--bench=') && !a.startsWith('--runs='));
if (bench === 'policy-scale.mjs' && !passed.some((a) => a.startsWith('--only='))) passed.push('--only=mcp');
if (!baseline) {
  console.error('usage: node bench/compare.mjs BASELINE_CHECKOUT [rounds] [--bench=FILE] [bench options]');
  process.exit(2);
}

function onePass(root) {
  const run = spawnSync(process.execPath, [join(root, 'bench', bench), '--runs=1', ...passed], {
    cwd: root,
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`bench in ${root} failed:\n${run.stderr}`);
  const line = run.stdout.split('\n').find((l) => l.startsWith('run 1: ratios '));
  const names = run.stdout
    .split('\n')
    .slice(run.stdout.split('\n').findIndex((l) => l.startsWith('variant')) + 1)
    .filter((l) => l.trim())
    .map((l) => l.split(/\s{2,}/)[0].trim());
  const ratios = line.slice('run 1: ratios '.length).split(' | ').map(Number);
  // The table has one row per ratio; lines after it are summaries.
  return { names: names.slice(0, ratios.length), ratios };
}


const sides = { before: [], after: [] };
let names = [];
for (let r = 0; r < rounds; r++) {
  const order = r % 2 ? ['after', 'before'] : ['before', 'after'];
  for (const side of order) {
    const res = onePass(side === 'before' ? resolve(baseline) : here);
    names = res.names;
    sides[side].push(res.ratios);
    console.log(`round ${r + 1} ${side.padEnd(6)} ${res.ratios.map((x) => x.toFixed(3)).join(' | ')}`);
  }
}

console.log(`\nmedian of ${rounds} runs each (ratio governed / bare, paired):`);
console.log('variant'.padEnd(50), 'before'.padStart(8), 'after'.padStart(8), 'change'.padStart(8));
names.forEach((name, i) => {
  const b = median(sides.before.map((r) => r[i]));
  const a = median(sides.after.map((r) => r[i]));
  console.log(name.padEnd(50), b.toFixed(3).padStart(8), a.toFixed(3).padStart(8), (a - b).toFixed(3).padStart(8));
});
