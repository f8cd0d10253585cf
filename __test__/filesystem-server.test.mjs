// Governed calls to the real @modelcontextprotocol/server-filesystem over
// stdio: what is blocked leaves no trace on disk.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Execlave, PolicyBlockedError } from '@execlave/sdk';
import { instrumentMcpClient } from '@execlave/sdk/integrations/mcp';
import { filesystemClient, tempDir } from './helpers/servers.mjs';

let root;
let client;
let exe;

before(async () => {
  root = tempDir('execlave-fs-');
  mkdirSync(join(root, 'data'));
  mkdirSync(join(root, 'private'));
  writeFileSync(join(root, 'data', 'a.txt'), 'alpha');
  writeFileSync(join(root, 'private', 'key.txt'), 'secret');
  exe = new Execlave({
    policies: [
      {
        name: 'FS',
        policyType: 'tool_invocation',
        enforcementMode: 'block',
        ruleDefinition: {
          allow: ['read_text_file', 'read_multiple_files', 'write_file', 'list_*'],
          deny: ['move_file'],
          arguments: [
            { tools: ['read_*', 'list_*', 'write_file'], argument: 'path', kind: 'path', allow: [`${root}/data/**`] },
            { tools: ['read_multiple_files'], argument: 'paths', kind: 'path', allow: [`${root}/data/**`] },
          ],
        },
      },
    ],
  });
  client = instrumentMcpClient(await filesystemClient(root), exe, { agentId: 'ops-agent' });
});

after(async () => {
  await client.close();
  await exe.shutdown();
});

test('allowed read returns the file', async () => {
  const r = await client.callTool({ name: 'read_text_file', arguments: { path: join(root, 'data', 'a.txt') } });
  assert.equal(r.content[0].text, 'alpha');
});

test('allowed write really writes', async () => {
  await client.callTool({ name: 'write_file', arguments: { path: join(root, 'data', 'b.txt'), content: 'beta' } });
  assert.ok(existsSync(join(root, 'data', 'b.txt')));
});

test('a write outside the allowed tree is blocked and the file is not written', async () => {
  const target = join(root, 'private', 'pwned.txt');
  await assert.rejects(client.callTool({ name: 'write_file', arguments: { path: target, content: 'x' } }), PolicyBlockedError);
  assert.ok(!existsSync(target));
});

test('a tool outside the allowlist is blocked and the directory is not made', async () => {
  const target = join(root, 'data', 'newdir');
  await assert.rejects(
    client.callTool({ name: 'create_directory', arguments: { path: target } }),
    (e) => e instanceof PolicyBlockedError && e.violations[0].rule === 'not_allowed',
  );
  assert.ok(!existsSync(target));
});

test('a denied tool is blocked and nothing moves', async () => {
  const src = join(root, 'data', 'a.txt');
  await assert.rejects(
    client.callTool({ name: 'move_file', arguments: { source: src, destination: join(root, 'data', 'moved.txt') } }),
    (e) => e instanceof PolicyBlockedError && e.violations[0].rule === 'deny',
  );
  assert.ok(existsSync(src));
});

test('.. traversal, file:// URIs and backslashes are normalised before matching', async () => {
  for (const path of [
    `${root}/data/../private/key.txt`,
    `file://${root}/private/key.txt`,
    `file://${root}/data/%2e%2e/private/key.txt`,
    `${root}\\data\\..\\private\\key.txt`,
  ]) {
    await assert.rejects(client.callTool({ name: 'read_text_file', arguments: { path } }), PolicyBlockedError, path);
  }
});

test('array arguments are checked element by element', async () => {
  const ok = join(root, 'data', 'a.txt');
  const r = await client.callTool({ name: 'read_multiple_files', arguments: { paths: [ok] } });
  assert.match(r.content[0].text, /alpha/);
  await assert.rejects(
    client.callTool({ name: 'read_multiple_files', arguments: { paths: [ok, join(root, 'private', 'key.txt')] } }),
    PolicyBlockedError,
  );
});
