'use strict';

const { Execlave } = require('./lib/client');
const errors = require('./lib/errors');
const { terminalApprover } = require('./lib/terminal-approver');

module.exports = { Execlave, terminalApprover, ...errors };
