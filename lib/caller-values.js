'use strict';

// Reading what a client answered or threw, for the call's record, without
// ever throwing: the value belongs to the caller and goes back to them as it
// was, whatever its getters, prototype or Proxy traps do. A record that must
// say less about an odd value is still a record.

/** Whether a tool's answer says the tool failed (`isError: true`); an answer that cannot be read does not say so. */
function answerIsError(result) {
  try {
    return Boolean(result) && result.isError === true;
  } catch {
    return false;
  }
}

/** The text of a thrown value, for its record. */
function thrownMessage(err) {
  try {
    const message = err && err.message;
    if (message) return String(message);
  } catch {
    // Fall through to the value itself.
  }
  try {
    return String(err);
  } catch {
    return `[a thrown ${typeof err} that has no text form]`;
  }
}

/** The type of a thrown value (its `name`, else its `typeof`), for its record. */
function thrownType(err) {
  try {
    const name = err && err.name;
    if (name) return String(name);
  } catch {
    // Fall through to its typeof.
  }
  return typeof err;
}

module.exports = { answerIsError, thrownMessage, thrownType };
