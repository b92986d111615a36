"""The audit trail: `record()` in services, `verify_chain()` for `flask audit verify`."""
