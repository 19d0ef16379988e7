-- Role changes are audit events ('role_change': SetUserRole). The action list is a CHECK
-- of audit_log (0010); PostgreSQL named it audit_log_action_check. Every row already in
-- the log satisfies the wider list.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (action IN (
    'publish', 'yank', 'unyank', 'token_create', 'token_revoke',
    'user_create', 'owner_add', 'owner_remove', 'limits_set', 'rate', 'role_change'));
