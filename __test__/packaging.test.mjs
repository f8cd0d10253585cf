// Fast checks of what ships: the platform packages under npm/, the main
// package's optionalDependencies and publish settings, the GitHub workflows,
// and the loader's error when no binary fits. The slow end-to-end check (pack,
// install, run against MCP servers) is scripts/smoke.mjs (`npm run test:matrix`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const { targets, binaryName, packageName } = pkg.napi;
const WORKFLOWS = path.join(ROOT, '.github', 'workflows');

/** napi's naming: x86_64-unknown-linux-gnu -> { dir: linux-x64-gnu, os: linux, cpu: x64, libc: glibc } */
function describeTarget(triple) {
  const [archPart, , sysPart, abiPart] = triple.split('-');
  const cpu = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }[archPart];
  assert.ok(cpu, `unknown arch in ${triple}`);
  if (triple.endsWith('-apple-darwin')) return { dir: `darwin-${cpu}`, os: 'darwin', cpu, libc: undefined };
  if (sysPart === 'windows') return { dir: `win32-${cpu}-${abiPart}`, os: 'win32', cpu, libc: undefined };
  if (sysPart === 'linux') {
    const libc = { gnu: 'glibc', musl: 'musl' }[abiPart];
    assert.ok(libc, `unknown libc in ${triple}`);
    return { dir: `linux-${cpu}-${abiPart}`, os: 'linux', cpu, libc };
  }
  throw new Error(`unexpected target ${triple}`);
}

function readWorkflow(name) {
  const text = fs.readFileSync(path.join(WORKFLOWS, name), 'utf8');
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  assert.deepEqual(doc.errors.map(String), [], `${name} does not parse`);
  assert.deepEqual(doc.warnings.map(String), [], `${name} has YAML warnings`);
  return doc.toJS();
}

test('package.json lists the seven release targets', () => {
  assert.deepEqual([...targets].sort(), [
    'aarch64-apple-darwin',
    'aarch64-unknown-linux-gnu',
    'aarch64-unknown-linux-musl',
    'x86_64-apple-darwin',
    'x86_64-pc-windows-msvc',
    'x86_64-unknown-linux-gnu',
    'x86_64-unknown-linux-musl',
  ]);
  assert.equal(packageName, '@execlave/sdk');
  assert.equal(binaryName, 'execlave');
});

test('every target has an npm/ package with matching name, version, os, cpu and libc', () => {
  for (const triple of targets) {
    const t = describeTarget(triple);
    const dir = path.join(ROOT, 'npm', t.dir);
    const sub = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const file = `${binaryName}.${t.dir}.node`;
    assert.equal(sub.name, `${packageName}-${t.dir}`, triple);
    assert.equal(sub.version, pkg.version, `${sub.name} version`);
    assert.deepEqual(sub.os, [t.os], `${sub.name} os`);
    assert.deepEqual(sub.cpu, [t.cpu], `${sub.name} cpu`);
    assert.deepEqual(sub.libc, t.libc && [t.libc], `${sub.name} libc`);
    assert.equal(sub.main, file, `${sub.name} main`);
    assert.deepEqual(sub.files, [file], `${sub.name} files`);
    assert.equal(sub.license, pkg.license, `${sub.name} license`);
    assert.deepEqual(sub.engines, pkg.engines, `${sub.name} engines`);
    // npm provenance checks repository.url against the building repository.
    assert.deepEqual(sub.repository, pkg.repository, `${sub.name} repository`);
    assert.equal(sub.publishConfig?.access, 'public', `${sub.name} publishConfig.access`);
    assert.ok(fs.statSync(path.join(dir, 'README.md')).size > 0, `${sub.name} README.md`);
  }
});

test('npm/ holds no package for a target that is not built', () => {
  const expected = targets.map((t) => describeTarget(t).dir).sort();
  const present = fs.readdirSync(path.join(ROOT, 'npm')).filter((d) => fs.statSync(path.join(ROOT, 'npm', d)).isDirectory()).sort();
  assert.deepEqual(present, expected);
});

test('optionalDependencies are exactly the platform packages, at the same version', () => {
  // `napi prepublish` (prepublishOnly) writes them into the published
  // package.json; the repository's may leave them out, as the napi-rs
  // template does, since unpublished packages there trouble installs. If it
  // lists them, it must list exactly these.
  const expected = Object.fromEntries(targets.map((t) => [`${packageName}-${describeTarget(t).dir}`, pkg.version]));
  assert.match(pkg.scripts.prepublishOnly, /^napi prepublish\b/);
  assert.doesNotMatch(pkg.scripts.prepublishOnly, /--skip-optional-publish/);
  if (pkg.optionalDependencies !== undefined) assert.deepEqual(pkg.optionalDependencies, expected);
  // The smoke test packs the main package the way napi prepublish publishes it.
  const smoke = fs.readFileSync(path.join(ROOT, 'scripts', 'smoke.mjs'), 'utf8');
  assert.match(smoke, /optionalDependencies/);
});

test('the main package ships the loader and no binary, and publishes with provenance', () => {
  for (const f of ['native.js', 'native.d.ts', 'index.js', 'index.mjs', 'index.d.ts', 'lib/', 'integrations/']) {
    assert.ok(pkg.files.includes(f), `files lacks ${f}`);
  }
  assert.ok(!pkg.files.some((f) => f.includes('.node')), 'the main package must not ship a .node binary');
  assert.equal(pkg.publishConfig.access, 'public');
  assert.equal(pkg.publishConfig.provenance, true);
  assert.match(pkg.repository.url, /github\.com/);
  assert.equal(pkg.scripts.prepublishOnly, 'napi prepublish -t npm');
  assert.equal(pkg.scripts.artifacts, 'napi artifacts');
  // `npm version` bumps npm/*/package.json too, inside its own commit.
  assert.equal(pkg.scripts.version, 'napi version && git add npm');
  assert.match(pkg.scripts['test:matrix'], /scripts\/smoke\.mjs --matrix/);
  // Either MCP SDK line, neither required: the wrapper duck-types the Client.
  for (const sdk of ['@modelcontextprotocol/sdk', '@modelcontextprotocol/client']) {
    assert.ok(pkg.peerDependencies[sdk], `${sdk} is a peer dependency`);
    assert.equal(pkg.peerDependenciesMeta[sdk]?.optional, true, `${sdk} is optional`);
  }
  // The lock's root entry says the same (npm ci compares them).
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  assert.deepEqual(lock.packages[''].peerDependencies, pkg.peerDependencies);
});

test('CI installs exactly the lock and fails when an install changes it; the README starts with npm ci', () => {
  const ci = fs.readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8');
  const commands = ci.split('\n').filter((l) => !l.trimStart().startsWith('#'));
  const install = commands.findIndex((l) => /^npm ci\b/.test(l));
  const lockCheck = commands.findIndex((l) => /git diff --exit-code\b.*package-lock\.json/.test(l));
  const npmTest = commands.findIndex((l) => /^npm test\b/.test(l));
  assert.ok(install >= 0, 'npm ci');
  assert.ok(!commands.some((l) => /^npm install\b/.test(l)), 'no npm install');
  assert.ok(install < lockCheck && lockCheck < npmTest, 'install, then the lock check, then npm test');
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const firstCommand = readme.split('```sh\n')[1].split('\n')[0];
  assert.match(firstCommand, /^npm ci\b/);
});

test('the workflows are valid YAML with the expected shape', () => {
  const files = fs.readdirSync(WORKFLOWS).filter((f) => /\.ya?ml$/.test(f));
  assert.ok(files.includes('release.yml'), 'release.yml exists');
  for (const f of files) {
    const wf = readWorkflow(f);
    assert.equal(typeof wf.name, 'string', `${f}: name`);
    assert.ok(wf.on, `${f}: on`);
    assert.ok(wf.jobs && Object.keys(wf.jobs).length > 0, `${f}: jobs`);
    for (const [id, job] of Object.entries(wf.jobs)) {
      assert.ok(job['runs-on'], `${f}: job ${id} has runs-on`);
      assert.ok(Array.isArray(job.steps) && job.steps.length > 0, `${f}: job ${id} has steps`);
      for (const step of job.steps) assert.ok(step.uses || step.run, `${f}: a step of ${id} has neither uses nor run`);
    }
  }
});

test('the release workflow builds and tests every target, then publishes with provenance', () => {
  const wf = readWorkflow('release.yml');
  const { build, publish } = wf.jobs;

  const built = build.strategy.matrix.settings.map((s) => s.target).sort();
  assert.deepEqual(built, [...targets].sort(), 'build matrix = package.json napi.targets');
  for (const s of build.strategy.matrix.settings) {
    assert.match(s.build, new RegExp(`--target ${s.target}\\b`), `${s.target}: build command names its target`);
    if (s.target.endsWith('-linux-musl')) assert.match(s.build, / -x\b/, `${s.target}: musl via cargo-zigbuild`);
    if (s.target.endsWith('-linux-gnu')) assert.match(s.build, /--use-napi-cross/, `${s.target}: gnu via napi cross toolchain`);
    if (s.target.includes('apple')) assert.match(s.host, /^macos/);
    if (s.target.includes('windows')) assert.match(s.host, /^windows/);
  }

  const tested = new Set([
    ...wf.jobs['test-native'].strategy.matrix.settings.map((s) => s.target),
    ...wf.jobs['test-musl'].strategy.matrix.target,
  ]);
  assert.deepEqual([...tested].sort(), [...targets].sort(), 'every target is tested on a runner that can load it');
  assert.deepEqual(wf.jobs['test-native'].strategy.matrix.node, ['20', '22', '24']);

  assert.deepEqual([...publish.needs].sort(), ['build', 'test-musl', 'test-native']);
  assert.equal(publish.permissions['id-token'], 'write', 'provenance needs an OIDC token');
  const runs = publish.steps.map((s) => s.run || '').join('\n');
  assert.match(runs, /napi create-npm-dirs/);
  assert.match(runs, /npm run artifacts/);
  assert.match(runs, /npm publish "\$\{args\[@\]\}"/);
  assert.match(runs, /--provenance/);
  const publishStep = publish.steps.find((s) => (s.run || '').includes('npm publish'));
  assert.equal(publishStep.env.NPM_CONFIG_PROVENANCE, 'true', 'platform packages (published by napi prepublish) get provenance too');
});

test('without a fitting binary the loader names the platform and what to do', (t) => {
  if (!fs.existsSync(path.join(ROOT, 'native.js'))) {
    t.skip('native.js is generated by `npm run build`');
    return;
  }
  // The generated loader and the wrapper, with no .node file beside them and
  // no platform package reachable.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'execlave-loader-'));
  try {
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.copyFileSync(path.join(ROOT, 'native.js'), path.join(dir, 'native.js'));
    fs.copyFileSync(path.join(ROOT, 'lib', 'native.js'), path.join(dir, 'lib', 'native.js'));
    const r = spawnSync(
      process.execPath,
      ['-e', "try { require('./lib/native.js'); console.log('{}') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }"],
      { cwd: dir, encoding: 'utf8', env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: '' } },
    );
    assert.equal(r.status, 0, r.stderr);
    const err = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.equal(err.code, 'EXECLAVE_NO_NATIVE_BINARY');
    assert.ok(err.message.includes(`${process.platform}-${process.arch}`), err.message);
    assert.match(err.message, /--omit=optional|npm run build/);
    assert.doesNotMatch(err.message, /^Cannot find module/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Issue 19: one version source. The Cargo workspace holds it; the Rust
// crates inherit it, maturin reads it for the wheel (dynamic version), and
// npm's package.json and every platform package must say the same.
test('one version: the Cargo workspace, the crates, the wheel and every npm package agree', () => {
  const cargo = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8');
  const workspace = cargo.match(/\[workspace\.package\][^[]*?^version\s*=\s*"([^"]+)"/m);
  assert.ok(workspace, 'Cargo.toml [workspace.package] has a version');
  const version = workspace[1];
  assert.equal(pkg.version, version, 'package.json version');
  const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
  assert.equal(lock.version, version, 'package-lock.json version');
  assert.equal(lock.packages[''].version, version, 'package-lock.json root package version');
  for (const dir of fs.readdirSync(path.join(ROOT, 'npm'))) {
    const sub = JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', dir, 'package.json'), 'utf8'));
    assert.equal(sub.version, version, `npm/${dir} version`);
  }
  for (const crate of ['Cargo.toml', 'core/Cargo.toml', 'python/Cargo.toml']) {
    const text = fs.readFileSync(path.join(ROOT, crate), 'utf8');
    const pkgSection = text.split(/^\[package\]$/m)[1].split(/^\[/m)[0];
    assert.match(pkgSection, /^version\.workspace = true$/m, `${crate} inherits the workspace version`);
  }
  const pyproject = fs.readFileSync(path.join(ROOT, 'python', 'pyproject.toml'), 'utf8');
  const project = pyproject.split(/^\[project\]$/m)[1].split(/^\[/m)[0];
  assert.doesNotMatch(project, /^version\s*=/m, 'pyproject.toml has no static version');
  assert.match(project, /^dynamic = \["version"\]$/m, 'pyproject.toml takes its version from Cargo');
  assert.doesNotMatch(
    fs.readFileSync(path.join(ROOT, 'python', 'execlave', '__init__.py'), 'utf8'),
    /__version__\s*=\s*["']/,
    'execlave.__version__ comes from the extension, not a literal',
  );
});

// Issue 19 item 9: the licence ships in both packages, the wheel has a
// README, and the README stays a user's page whose first `sh` block still
// gives the fresh-clone commands (CI and the hook read it).
test('LICENSE ships in the npm package and the wheel; the wheel has its README', () => {
  const license = fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8');
  assert.match(license, /^MIT License/);
  assert.equal(fs.readFileSync(path.join(ROOT, 'python', 'LICENSE'), 'utf8'), license, 'python/LICENSE is a copy of LICENSE');
  const packed = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(packed.status, 0, packed.stderr);
  const files = JSON.parse(packed.stdout)[0].files.map((f) => f.path);
  for (const f of ['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json', 'index.js', 'index.d.ts']) {
    assert.ok(files.includes(f), `npm package has ${f}`);
  }
  const project = fs.readFileSync(path.join(ROOT, 'python', 'pyproject.toml'), 'utf8').split(/^\[project\]$/m)[1].split(/^\[/m)[0];
  assert.match(project, /^license-files = \["LICENSE"\]$/m);
  assert.match(project, /^readme = "README.md"$/m);
  assert.ok(fs.statSync(path.join(ROOT, 'python', 'README.md')).size > 1000, 'python/README.md');
});

test('the README is a short user page whose first sh block runs the demo and every test', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme.split('\n').length <= 320, `README.md has ${readme.split('\n').length} lines`);
  const firstSh = readme.match(/```sh\n([\s\S]*?)```/)[1];
  assert.match(firstSh, /^npm ci && npm run build && npm run demo\b/m);
  assert.match(firstSh, /^npm test\b/m);
  for (const doc of ['docs/performance.md', 'CONTRIBUTING.md', 'CHANGELOG.md', 'LICENSE', 'docs/migration-node.md', 'docs/policies.md']) {
    assert.ok(readme.includes(`](${doc}`), `README links ${doc}`);
    assert.ok(fs.existsSync(path.join(ROOT, doc)), doc);
  }
});
