// The records an audit log holds, one TracePayload per line.

import { readFileSync } from 'node:fs';

export function readAuditLog(path) {
  const text = readFileSync(path, 'utf8').trim();
  return text ? text.split('\n').map((l) => JSON.parse(l)) : [];
}
