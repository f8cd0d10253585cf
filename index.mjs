// The ESM entry re-exports the CommonJS one, so that both share one set of
// classes and `instanceof` works whichever way the package was loaded.
import cjs from './index.js';

export const {
  Execlave,
  terminalApprover,
  ERROR_CODES,
  ExeclaveError,
  ExeclaveAuthError,
  EnforcementHaltError,
  PolicyBlockedError,
  ToolIntegrityError,
  AgentPausedError,
  EnforcementUnavailableError,
  PolicyDeniedError,
  ApprovalTimeoutError,
  CertificateMismatchError,
  ApprovalVerificationError,
} = cjs;
export default cjs;
