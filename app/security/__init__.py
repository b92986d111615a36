"""Access rules: roles, declared route policies, tenant scoping, passwords and tokens."""
