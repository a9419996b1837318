/** The columns of a TokenRecord: every column of `tokens` but the secret's hash. */
export const TOKEN_COLUMNS =
  'id, kind, name, role, agent_id, created_at, expires_at, max_uses, uses, revoked_at, group_name, enrollment_token_id, requires_approval, rotate_requested_at';
