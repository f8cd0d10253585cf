'use strict';

const { Execlave } = require('./lib/client');
const errors = require('./lib/errors');

module.exports = { Execlave, ...errors };
