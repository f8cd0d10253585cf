// An empty policy source is not "allow everything" (issue 18 item 4, issue
// 19 item 2): a path (option or EXECLAVE_POLICY_PATH) that yields no policy
// fails at construction, naming the path and the files it skipped; an
// inline `policies: []` is allowed, with a warning on stderr.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Execlave } from '@execlave/sdk';
import { tempDir } from './helpers/servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));

test('a folder with no policy file fails at construction, naming it and what it skipped', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'guard.jsonc'), '{}');
  writeFileSync(join(dir, 'guard.json.bak'), '{}');
  assert.throws(
    () => new Execlave({ policies: dir }),
    (err) => err.message.includes(dir) && err.message.includes('guard.jsonc') && err.message.includes('guard.json.bak'),
  );
  const empty = tempDir();
  assert.throws(() => new Execlave({ policies: empty }), (err) => err.message.includes(empty) && /no policy file/.test(err.message));
});

test('an empty policy file fails at construction, naming it', () => {
  const dir = tempDir();
  for (const [name, text] of [['p.yaml', ''], ['q.json', '[]'], ['r.yml', '# later\n']]) {
    const file = join(dir, name);
    writeFileSync(file, text);
    assert.throws(() => new Execlave({ policies: file }), (err) => err.message.includes(file) && /no policy/.test(err.message), name);
  }
});

test('EXECLAVE_POLICY_PATH naming an empty (unmounted) folder fails too', () => {
  const dir = join(tempDir(), 'mnt');
  mkdirSync(dir);
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { Execlave } from '@execlave/sdk';
    try { new Execlave(); console.log('constructed'); } catch (e) { console.log('refused: ' + e.message); }
  `], { cwd: join(here, '..'), env: { ...process.env, EXECLAVE_API_KEY: '', EXECLAVE_POLICY_PATH: dir }, encoding: 'utf8', timeout: 20_000 });
  assert.match(r.stdout, /^refused: .*no policy file/m, r.stdout + r.stderr);
  assert.ok(r.stdout.includes(dir), r.stdout);
});

test('an inline empty list is allowed, with one warning on stderr even without debug', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { Execlave } from '@execlave/sdk';
    const exe = new Execlave({ policies: [] });
    await exe.enforcePolicy({ agentId: 'ops-agent', tools: ['anything'] });
    console.log('allowed');
  `], { cwd: join(here, '..'), encoding: 'utf8', timeout: 20_000 });
  assert.match(r.stdout, /allowed/, r.stderr);
  const lines = r.stderr.split('\n').filter((l) => l.includes('empty list'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /every call is allowed/);
});
