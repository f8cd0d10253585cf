// The 2.x test server (v2-server.mjs) over stdio, for a client to spawn.
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import { v2ServerFactory } from './v2-server.mjs';

serveStdio(v2ServerFactory());
