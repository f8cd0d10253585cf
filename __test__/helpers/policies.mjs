// Policies shared by the Node tests.

export const guard = {
  id: 'pol_guard',
  name: 'Guard',
  policyType: 'tool_invocation',
  enforcementMode: 'block',
  appliesToAgents: ['ops-agent'],
  ruleDefinition: {
    allow: ['echo', 'noop', 'write_note', 'refund', 'read_many', 'soft_fail', 'sleep'],
    deny: ['delete_all'],
    arguments: [
      { tools: ['write_note'], argument: 'path', kind: 'path', allow: ['/srv/notes/**'] },
      { tools: ['read_many'], argument: 'paths', kind: 'path', allow: ['/srv/notes/**'] },
      { tools: ['refund'], argument: '/order/amount', kind: 'number', max: 100, required: true },
    ],
  },
};

export const echoWatch = {
  id: 'pol_echo_watch',
  name: 'Echo watch',
  policyType: 'tool_invocation',
  enforcementMode: 'warn',
  ruleDefinition: {
    arguments: [{ tools: ['echo'], argument: 'text', kind: 'regex', deny: ['password'], caseInsensitive: true }],
  },
};

export const testPolicies = [guard, echoWatch];
