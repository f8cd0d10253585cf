import cjs from './mcp.js';

export const { instrumentMcpClient } = cjs;
export default cjs;
