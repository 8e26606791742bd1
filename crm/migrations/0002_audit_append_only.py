from django.db import migrations

FORBID = """
CREATE FUNCTION crm_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER crm_audit_no_update_delete
    BEFORE UPDATE OR DELETE ON crm_auditevent
    FOR EACH ROW EXECUTE FUNCTION crm_audit_append_only();

CREATE TRIGGER crm_audit_no_truncate
    BEFORE TRUNCATE ON crm_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION crm_audit_append_only();
"""

ALLOW = """
DROP TRIGGER crm_audit_no_truncate ON crm_auditevent;
DROP TRIGGER crm_audit_no_update_delete ON crm_auditevent;
DROP FUNCTION crm_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]

    operations = [migrations.RunSQL(FORBID, ALLOW)]
