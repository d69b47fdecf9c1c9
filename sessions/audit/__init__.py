"""The audit trail: an append-only, hash-chained record of every operator action, override, gate result and
device event (docs/audit.md).

- `entry`: the entry model, its canonical encoding and hash;
- `payload_rules`: what a payload may hold (small, plain JSON, nothing that identifies a patient);
- `daily_log`: the machine's daily logs `DATA_DIR/audit/YYYY-MM-DD.jsonl` (flock, fsync, head, chain across days);
- `visit_chain`: a visit's own chain, journalled through the session into the sealed file's `/audit`;
- `trail`: `AuditTrail`, what the protocol runner calls (`record`, `close`);
- `chain_check`, `verify`: `amuse-acq audit verify FILE|DIR`, naming each entry edited, removed, inserted,
  reordered or cut off.
"""

from sessions.audit.chain_check import AuditProblem, ChainReport, check_chain
from sessions.audit.entry import CLOSED, FORMAT, GENESIS, AuditEntry, AuditRef
from sessions.audit.errors import AuditRefused, AuditWriteError
from sessions.audit.payload_rules import AuditPayloadRefused, check_payload
from sessions.audit.trail import SYSTEM, AuditTrail
from sessions.audit.verify import AuditTargetError, AuditVerifyReport, verify_path

__all__ = [
    "CLOSED", "FORMAT", "GENESIS", "SYSTEM", "AuditEntry", "AuditPayloadRefused", "AuditProblem", "AuditRef",
    "AuditRefused", "AuditTargetError", "AuditTrail", "AuditVerifyReport", "AuditWriteError", "ChainReport",
    "check_chain", "check_payload", "verify_path",
]
