"""The audit trail's writer in the database: ``crm_audit_append`` (see crm.audit.log_event).

One call takes the chain's lock, reads the last link and inserts the next event with its hash, so
an event costs one round trip, and PL/pgSQL keeps the plans of its statements for the session
instead of planning the INSERT again for every event. The function is VOLATILE: each statement
in it takes a fresh snapshot, so the read of the last link, a statement of its own after the
lock's, sees every link committed before the lock was granted (READ COMMITTED).

The hashed payload is the canonical JSON of ``crm.audit._payload``; Python sends it in three
pieces and the function puts the previous hash and the actor's roles in between.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION crm_audit_append(
    lock_key bigint,
    genesis text,
    new_occurred_at timestamptz,
    new_actor_id bigint,
    new_actor_username text,
    new_actor_roles text[],
    new_action text,
    new_object_type text,
    new_object_id text,
    new_changes jsonb,
    new_request_id text,
    new_ip inet,
    payload_head text,
    payload_middle text,
    payload_tail text
) RETURNS TABLE (id bigint, actor_roles varchar[], prev_hash varchar, hash varchar)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last_hash text;
    roles varchar[];
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    -- Roles unknown to the caller (NULL): the actor's groups, read under the lock.
    roles := COALESCE(new_actor_roles::varchar[], ARRAY(
        SELECT g.name FROM auth_group g JOIN crm_user_groups ug ON ug.group_id = g.id
        WHERE ug.user_id = new_actor_id ORDER BY g.name COLLATE "C"
    ));
    SELECT e.hash INTO last_hash FROM crm_auditevent e ORDER BY e.id DESC LIMIT 1;
    last_hash := COALESCE(last_hash, genesis);
    RETURN QUERY
    INSERT INTO crm_auditevent AS e (
        occurred_at, actor_id, actor_username, actor_roles, action, object_type, object_id,
        changes, request_id, ip, prev_hash, hash
    ) VALUES (
        new_occurred_at, new_actor_id, new_actor_username, roles, new_action, new_object_type,
        new_object_id, new_changes, new_request_id, new_ip, last_hash,
        encode(sha256(convert_to(
            payload_head || last_hash || payload_middle || array_to_json(roles)::text
            || payload_tail,
            'UTF8'
        )), 'hex')
    )
    RETURNING e.id, e.actor_roles, e.prev_hash, e.hash;
END
$$;
"""

DROP = """
DROP FUNCTION crm_audit_append(
    bigint, text, timestamptz, bigint, text, text[], text, text, text, jsonb, text, inet, text,
    text, text
);
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0004_local_holidays")]

    operations = [migrations.RunSQL(CREATE, DROP)]
