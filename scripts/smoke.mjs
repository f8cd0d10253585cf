#!/usr/bin/env node
// Smoke test of the package as users install it.
//
// Packs @execlave/sdk (`npm pack`, with the optionalDependencies that
// `napi prepublish` adds when publishing) and the platform package for this
// machine (npm/<platform> plus the built binary), installs both into a fresh
// temporary project together with @modelcontextprotocol/sdk from npm, and
// there runs, with the Node binary under test:
//   - an ESM script and a CommonJS script (__test__/smoke/esm.mjs, cjs.cjs),
//   - a TypeScript file checked by tsc under NodeNext and under Bundler
//     resolution, then run (__test__/smoke/typed.mts),
// each making governed calls (allowed and blocked) against
// @modelcontextprotocol/server-everything over stdio, Streamable HTTP (a real
// server this script starts on 127.0.0.1) and InMemoryTransport; and checks
// that without the platform package the loader throws an error that names the
// platform.
//
// A `v2` cell installs the 2.x SDK instead (@modelcontextprotocol/client and
// @modelcontextprotocol/server, same version, no @modelcontextprotocol/sdk)
// and runs __test__/smoke/v2.mjs: a 2.x client against a 2.x server over
// stdio, Streamable HTTP and InMemoryTransport.
//
//   node scripts/smoke.mjs                       # system node, newest MCP SDK
//   node scripts/smoke.mjs --node 22 --mcp-sdk lowest,latest
//   node scripts/smoke.mjs --matrix              # node system,22,24 x lowest,latest,v2
//
// Options:
//   --node LIST      comma list of: system | a major (22) | a path to a node binary.
//                    A major is installed from npm as node-<os>-<cpu>@MAJOR and
//                    cached in target/smoke/node-MAJOR.
//   --mcp-sdk LIST   comma list of: lowest (lowest version in the peer range) |
//                    latest | an exact version | v2 (the newest 2.x client and
//                    server) | v2@VERSION.
//   --matrix         --node system,22,24 --mcp-sdk lowest,latest,v2
//   --skip-build     use the binary and native.js already in the repo root; fail
//                    if they are missing (default: build them when missing)
//   --keep           keep the temporary directory
//
// Closing line: "N passed, N failed" (one per matrix cell).

import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SMOKE_SRC = path.join(ROOT, '__test__', 'smoke');
const require = createRequire(import.meta.url);
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const MCP = '@modelcontextprotocol/sdk';
// The 2.x SDK's packages, installed together at one version.
const MCP2 = ['@modelcontextprotocol/client', '@modelcontextprotocol/server'];
const STEP_TIMEOUT_MS = 180_000;

// ---------------------------------------------------------------- options

function parseArgs(argv) {
  const opts = { node: ['system'], sdk: ['latest'], skipBuild: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v.split(',').map((s) => s.trim()).filter(Boolean);
    };
    if (a === '--node') opts.node = value();
    else if (a === '--mcp-sdk') opts.sdk = value();
    else if (a === '--matrix') {
      opts.node = ['system', '22', '24'];
      opts.sdk = ['lowest', 'latest', 'v2'];
    } else if (a === '--skip-build') opts.skipBuild = true;
    else if (a === '--keep') opts.keep = true;
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').filter((l) => l.startsWith('//')).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return opts;
}

// ---------------------------------------------------------------- helpers

/** The environment for child processes: none of the npm-run variables of a parent `npm run`. */
function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_(config|package|lifecycle|node|execpath|command)/i.test(k) || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

function run(cmd, args, { cwd = ROOT, env = cleanEnv(), timeout = STEP_TIMEOUT_MS, input } = {}) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd, env, timeout, encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  const output = `${r.stdout || ''}${r.stderr || ''}`;
  const ms = Date.now() - started;
  if (r.error) return { ok: false, output: `${output}\n${r.error.message}`, ms };
  if (r.status !== 0) return { ok: false, output: `${output}\nexit status ${r.status}${r.signal ? ` (${r.signal})` : ''}`, ms };
  return { ok: true, output, ms, stdout: r.stdout };
}

function must(label, r) {
  if (!r.ok) {
    console.error(`\n${label} failed:\n${r.output}`);
    process.exit(1);
  }
  return r;
}

function npm(args, opts) {
  return run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, opts);
}

/** linux-x64-gnu, linux-x64-musl, darwin-arm64, win32-x64-msvc, ... (the npm/ dir names). */
function platformDir() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const glibc = process.report?.getReport?.().header?.glibcVersionRuntime;
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- build + pack

function ensureBinary(plat, skipBuild) {
  const binary = path.join(ROOT, `${pkg.napi.binaryName}.${plat}.node`);
  const loader = path.join(ROOT, 'native.js');
  const have = fs.existsSync(binary) && fs.existsSync(loader) && fs.existsSync(path.join(ROOT, 'native.d.ts'));
  if (!have) {
    if (skipBuild) {
      console.error(`--skip-build: ${path.relative(ROOT, binary)} or native.js/native.d.ts is missing; run \`npm run build\` first`);
      process.exit(1);
    }
    console.log('building the release binary (npm run build) ...');
    must('npm run build', npm(['run', 'build'], { timeout: 30 * 60_000 }));
  }
  const st = fs.statSync(binary);
  console.log(`binary: ${path.relative(ROOT, binary)} (${st.size} bytes, built ${st.mtime.toISOString()})`);
  return binary;
}

function packAll(plat, binary, workDir) {
  const packs = path.join(workDir, 'packs');
  fs.mkdirSync(packs, { recursive: true });

  // Platform package: npm/<plat> as committed, plus the binary.
  const npmDir = path.join(ROOT, 'npm', plat);
  if (!fs.existsSync(path.join(npmDir, 'package.json'))) {
    console.error(`no npm/${plat}: this platform is not in package.json napi.targets`);
    process.exit(1);
  }
  const stage = path.join(workDir, 'stage', plat);
  fs.mkdirSync(stage, { recursive: true });
  for (const f of fs.readdirSync(npmDir)) fs.copyFileSync(path.join(npmDir, f), path.join(stage, f));
  fs.copyFileSync(binary, path.join(stage, path.basename(binary)));

  const packOne = (cwd) => {
    const r = must(`npm pack in ${cwd}`, npm(['pack', '--json', '--pack-destination', packs], { cwd }));
    const info = JSON.parse(r.stdout)[0];
    return { file: path.join(packs, info.filename), files: info.files.map((f) => f.path), size: info.size };
  };
  const platPack = packOne(stage);

  // Main package, as `napi prepublish` publishes it: `npm pack`, then the
  // optionalDependencies on every platform package at this version (which
  // napi prepublish writes) added to its package.json, then packed again.
  const rawMain = packOne(ROOT);
  const mainStage = path.join(workDir, 'stage', 'main');
  fs.mkdirSync(mainStage, { recursive: true });
  must('tar x', run('tar', ['xzf', rawMain.file, '-C', mainStage]));
  fs.rmSync(rawMain.file);
  const stagedManifest = path.join(mainStage, 'package', 'package.json');
  const manifest = JSON.parse(fs.readFileSync(stagedManifest, 'utf8'));
  const optionalDependencies = { ...(manifest.optionalDependencies || {}) };
  for (const dir of fs.readdirSync(path.join(ROOT, 'npm'))) optionalDependencies[`${pkg.napi.packageName}-${dir}`] = pkg.version;
  manifest.optionalDependencies = optionalDependencies;
  fs.writeFileSync(stagedManifest, `${JSON.stringify(manifest, null, 2)}\n`);
  const mainPack = packOne(path.join(mainStage, 'package'));

  // The tarballs hold what they must, and the main one no binary.
  const problems = [];
  if (!platPack.files.includes(path.basename(binary))) problems.push(`${path.basename(platPack.file)} lacks ${path.basename(binary)}`);
  for (const f of ['package.json', 'index.js', 'index.mjs', 'index.d.ts', 'native.js', 'native.d.ts', 'lib/native.js', 'integrations/mcp.js', 'integrations/mcp.mjs', 'integrations/mcp.d.ts']) {
    if (!mainPack.files.includes(f)) problems.push(`${path.basename(mainPack.file)} lacks ${f}`);
  }
  const stray = mainPack.files.filter((f) => f.endsWith('.node') || f.startsWith('src/') || f.startsWith('target/'));
  if (stray.length) problems.push(`${path.basename(mainPack.file)} ships ${stray.join(', ')}`);
  if (problems.length) {
    console.error(`tarball contents:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`packed: ${path.basename(mainPack.file)} (${mainPack.files.length} files, ${mainPack.size} B), ${path.basename(platPack.file)} (${platPack.size} B)`);
  return { main: mainPack.file, platform: platPack.file };
}

// ---------------------------------------------------------------- node + sdk versions

function resolveNode(spec) {
  if (spec === 'system') return { label: `system ${process.version}`, bin: process.execPath };
  if (/^\d+$/.test(spec)) {
    const dir = path.join(ROOT, 'target', 'smoke', `node-${spec}`);
    const pkgName = `node-${process.platform === 'win32' ? 'win' : process.platform}-${process.arch}`;
    const bin = path.join(dir, 'node_modules', pkgName, 'bin', process.platform === 'win32' ? 'node.exe' : 'node');
    if (!fs.existsSync(bin)) {
      console.log(`installing ${pkgName}@${spec} from npm into ${path.relative(ROOT, dir)} ...`);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'package.json'), '{ "private": true }\n');
      must(`npm install ${pkgName}@${spec}`, npm(['install', '--no-audit', '--no-fund', '--no-save', `${pkgName}@${spec}`], { cwd: dir, timeout: 10 * 60_000 }));
    }
    const v = must(`${bin} --version`, run(bin, ['--version'])).stdout.trim();
    return { label: v, bin };
  }
  if (fs.existsSync(spec)) {
    const v = must(`${spec} --version`, run(spec, ['--version'])).stdout.trim();
    return { label: v, bin: path.resolve(spec) };
  }
  throw new Error(`--node ${spec}: not "system", a major version or a node binary`);
}

/** An SDK under test: `{ packages: [name@version], label }`. */
function resolveSdk(spec) {
  if (spec === 'v2' || spec.startsWith('v2@')) {
    const version = spec === 'v2' ? must('npm view', npm(['view', `${MCP2[0]}@latest`, 'version'])).stdout.trim() : spec.slice(3);
    return { v2: true, packages: MCP2.map((p) => `${p}@${version}`), label: `${MCP2.join('+')}@${version}` };
  }
  const version = resolveSdk1(spec);
  return { v2: false, packages: [`${MCP}@${version}`], label: `${MCP}@${version}` };
}

function resolveSdk1(spec) {
  if (spec === 'latest') {
    return must('npm view', npm(['view', `${MCP}@latest`, 'version'])).stdout.trim();
  }
  if (spec === 'lowest') {
    const range = pkg.peerDependencies[MCP];
    const out = must('npm view', npm(['view', `${MCP}@${range}`, 'version', '--json'])).stdout;
    const list = [].concat(JSON.parse(out));
    const stable = list.filter((v) => !v.includes('-'));
    stable.sort((a, b) => {
      const pa = a.split('.').map(Number);
      const pb = b.split('.').map(Number);
      return pa[0] - pb[0] || pa[1] - pb[1] || pa[2] - pb[2];
    });
    return stable[0];
  }
  return spec;
}

// ---------------------------------------------------------------- servers

async function startHttpServer(nodeBin, everything) {
  const port = await freePort();
  const child = spawn(nodeBin, [path.join(everything, 'dist', 'index.js'), 'streamableHttp'], {
    env: cleanEnv({ PORT: String(port) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`HTTP server did not start:\n${log}`)), 30_000);
    const onData = (d) => {
      log += d;
      if (/listening on port/i.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`HTTP server exited (${code}) before listening:\n${log}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}

// ---------------------------------------------------------------- one cell

async function runCell({ node, sdk, packs, plat, workDir, everything, tsVersion, typesNodeVersion }) {
  const name = `node ${node.label} / ${sdk.label}`;
  const dir = path.join(workDir, `cell-${node.label.replace(/[^\w.]+/g, '_')}-${sdk.label.replace(/[^\w.]+/g, '_')}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'execlave-smoke', version: '1.0.0', private: true }, null, 2));
  for (const f of fs.readdirSync(SMOKE_SRC)) fs.copyFileSync(path.join(SMOKE_SRC, f), path.join(dir, f));

  const steps = [];
  const step = (label, r) => {
    steps.push({ label, ok: r.ok, ms: r.ms, output: r.output });
    return r.ok;
  };
  const started = Date.now();

  const installed = step(
    'npm install (tarballs + MCP SDK + typescript)',
    npm(
      [
        'install', '--no-audit', '--no-fund', '--prefer-offline',
        packs.main, packs.platform,
        ...sdk.packages, `typescript@${tsVersion}`, `@types/node@${typesNodeVersion}`,
      ],
      { cwd: dir, timeout: 10 * 60_000 },
    ),
  );

  let http;
  const env = cleanEnv({ SMOKE_EVERYTHING_DIR: everything });
  const nodeRun = (args, extra = {}) => run(node.bin, args, { cwd: dir, env: { ...env, ...extra } });
  if (installed && sdk.v2) {
    step('ESM script, 2.x client and server', nodeRun(['v2.mjs']));
  } else if (installed) {
    const resolved = nodeRun(['-p', `require.resolve('@execlave/sdk-${plat}')`]);
    step(
      `binary comes from the installed @execlave/sdk-${plat}`,
      resolved.ok && !resolved.stdout.trim().startsWith(dir + path.sep + 'node_modules' + path.sep)
        ? { ...resolved, ok: false, output: `resolved to ${resolved.stdout}` }
        : resolved,
    );
    try {
      http = await startHttpServer(node.bin, everything);
      env.SMOKE_HTTP_URL = http.url;
    } catch (err) {
      step('start Streamable HTTP server', { ok: false, ms: 0, output: String(err.message) });
    }
    step('ESM script', nodeRun(['esm.mjs'], env));
    step('CommonJS script', nodeRun(['cjs.cjs'], env));
    const tsc = path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
    if (step('tsc NodeNext', nodeRun([tsc, '-p', 'tsconfig.nodenext.json']))) {
      step('TypeScript (NodeNext build) run', nodeRun([path.join('out-nodenext', 'typed.mjs')], { ...env, SMOKE_TS_LABEL: 'ts-nodenext' }));
    }
    if (step('tsc Bundler', nodeRun([tsc, '-p', 'tsconfig.bundler.json']))) {
      step('TypeScript (Bundler build) run', nodeRun([path.join('out-bundler', 'typed.mjs')], { ...env, SMOKE_TS_LABEL: 'ts-bundler' }));
    }
    if (http) await http.stop();
  }
  if (installed) {
    // Without the platform package: a helpful error, not "Cannot find module".
    const platPath = path.join(dir, 'node_modules', '@execlave', `sdk-${plat}`);
    const aside = `${platPath}.aside`;
    fs.renameSync(platPath, aside);
    try {
      const probe = nodeRun([
        '-e',
        `try { require('@execlave/sdk'); console.log('LOADED'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`,
      ]);
      let ok = probe.ok;
      let output = probe.output;
      if (ok) {
        try {
          const e = JSON.parse(probe.stdout.trim().split('\n').pop());
          const want = `${process.platform}-${process.arch}`;
          ok = e.code === 'EXECLAVE_NO_NATIVE_BINARY' && e.message.includes(want) && !/^Cannot find module/.test(e.message);
          output = `${e.code}: ${e.message}`;
        } catch {
          ok = false;
        }
      }
      step('no platform package: error names the platform', { ok, ms: probe.ms, output });
    } finally {
      fs.renameSync(aside, platPath);
    }
  }

  const failed = steps.filter((s) => !s.ok);
  const transports = new Set();
  for (const s of steps) {
    for (const m of (s.output || '').matchAll(/\] ([\w-]+): (ok|not in [^\n]+)/g)) transports.add(`${m[1]} ${m[2].startsWith('ok') ? 'ok' : 'n/a'}`);
  }
  return { name, ok: failed.length === 0, steps, seconds: (Date.now() - started) / 1000, transports: [...transports].sort() };
}

// ---------------------------------------------------------------- main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const plat = platformDir();
  console.log(`platform: ${plat}`);
  const binary = ensureBinary(plat, opts.skipBuild);

  const everything = path.dirname(require.resolve('@modelcontextprotocol/server-everything/package.json'));
  const tsVersion = require('typescript/package.json').version;
  const typesNodeVersion = '20';

  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'execlave-smoke-'));
  const packs = packAll(plat, binary, workDir);
  const nodes = opts.node.map(resolveNode);
  const sdks = [...new Map(opts.sdk.map(resolveSdk).map((s) => [s.label, s])).values()];
  console.log(`matrix: node [${nodes.map((n) => n.label).join(', ')}] x [${sdks.map((s) => s.label).join(', ')}]`);

  const results = [];
  for (const node of nodes) {
    for (const sdk of sdks) {
      process.stdout.write(`\n--- node ${node.label} / ${sdk.label}\n`);
      const r = await runCell({ node, sdk, packs, plat, workDir, everything, tsVersion, typesNodeVersion });
      for (const s of r.steps) {
        console.log(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.label} (${(s.ms / 1000).toFixed(1)}s)`);
        if (!s.ok) console.log(s.output.split('\n').map((l) => `       ${l}`).join('\n'));
      }
      console.log(`  transports: ${r.transports.join(', ')}`);
      results.push(r);
    }
  }

  console.log('\nsmoke matrix');
  for (const r of results) {
    console.log(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.name}  (${r.seconds.toFixed(0)}s)  ${r.transports.join(', ')}`);
  }
  console.log(`  total ${((Date.now() - t0) / 1000).toFixed(0)}s; work dir ${opts.keep ? workDir : '(removed)'}`);
  if (!opts.keep) fs.rmSync(workDir, { recursive: true, force: true });
  const passed = results.filter((r) => r.ok).length;
  console.log(`${passed} passed, ${results.length - passed} failed`);
  process.exitCode = passed === results.length ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
