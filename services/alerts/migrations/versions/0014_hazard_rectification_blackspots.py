"""alerts: the hazard ledger's rectification workflow, and black-spot analysis

Hazards gain a type, an owner (the county, township or village that must act, by admin code, with
its body and named person), a deadline, a workflow state and an escalation mark; every transition
is a row of ``hazard_events`` (with its note and evidence URIs). Black spots are found from the
accident facts alerts keeps (``accident_facts``, alerts_0013) and the violation counts it keeps
from violations.accepted.v1 (docs/decisions/0017-blackspot-facts-in-alerts.md): ``violation_cells``
violations counted per ~100 m cell and day; an analysis run and its proposals.

Revision ID: alerts_0014
Revises: alerts_0013
"""

from alembic import op

revision = "alerts_0014"
down_revision = "alerts_0013"
branch_labels = None
depends_on = None

S = "alerts"


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE {S}.hazards
            ADD COLUMN hazard_type varchar(32) NOT NULL DEFAULT 'other',
            ADD COLUMN state varchar(12) NOT NULL DEFAULT 'identified',
            ADD COLUMN owner_code varchar(12),
            ADD COLUMN owner_name varchar(200),
            ADD COLUMN responsible_body varchar(200),
            ADD COLUMN responsible_person varchar(100),
            ADD COLUMN deadline timestamptz,
            ADD COLUMN state_changed_at timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN rectified_at timestamptz,
            ADD COLUMN escalated_at timestamptz,
            ADD COLUMN supervised_by varchar(12)
        """
    )
    # The owner starts as the hazard's county: jurisdiction scoping reads owner_code from now on.
    op.execute(f"UPDATE {S}.hazards SET owner_code = admin_code")
    op.execute(f"ALTER TABLE {S}.hazards ALTER COLUMN owner_code SET NOT NULL")
    op.execute(f"CREATE INDEX hazards_owner_code ON {S}.hazards (owner_code varchar_pattern_ops)")
    # The overdue check reads only the open hazards with a deadline.
    op.execute(
        f"CREATE INDEX hazards_open_deadline ON {S}.hazards (deadline) "
        "WHERE deadline IS NOT NULL AND escalated_at IS NULL AND state NOT IN ('rectified', 'verified')"
    )
    op.execute(
        f"""
        CREATE TABLE {S}.hazard_events (
            id bigserial PRIMARY KEY,
            hazard_id varchar(64) NOT NULL REFERENCES {S}.hazards (id) ON DELETE CASCADE,
            kind varchar(16) NOT NULL,
            from_state varchar(12),
            to_state varchar(12) NOT NULL,
            actor varchar(128) NOT NULL,
            note text,
            evidence jsonb NOT NULL DEFAULT '[]'::jsonb,
            detail jsonb NOT NULL DEFAULT '{{}}'::jsonb,
            at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(f"CREATE INDEX hazard_events_hazard ON {S}.hazard_events (hazard_id, id)")
    op.execute(
        f"""
        CREATE TABLE {S}.violation_cells (
            day date NOT NULL,
            lat_q integer NOT NULL,
            lon_q integer NOT NULL,
            admin_code varchar(6) NOT NULL,
            violations integer NOT NULL,
            PRIMARY KEY (day, lat_q, lon_q)
        )
        """
    )
    # The next offset of each violations.accepted.v1 partition counted into the cells, written in
    # the same transaction as the counts: a redelivered batch is not counted twice.
    op.execute(
        f"""
        CREATE TABLE {S}.violation_cell_offsets (
            topic varchar(255) NOT NULL,
            partition integer NOT NULL,
            next_offset bigint NOT NULL,
            PRIMARY KEY (topic, partition)
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE {S}.blackspot_runs (
            id varchar(64) PRIMARY KEY,
            admin_prefix varchar(12) NOT NULL,
            period_from timestamptz NOT NULL,
            period_to timestamptz NOT NULL,
            status varchar(12) NOT NULL,
            progress double precision NOT NULL DEFAULT 0,
            stage varchar(64),
            params jsonb NOT NULL,
            error text,
            accidents integer,
            violation_cells integer,
            proposals integer,
            requested_by varchar(128) NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE {S}.blackspot_proposals (
            id varchar(64) PRIMARY KEY,
            run_id varchar(64) NOT NULL REFERENCES {S}.blackspot_runs (id) ON DELETE CASCADE,
            admin_code varchar(6) NOT NULL,
            lat double precision NOT NULL,
            lon double precision NOT NULL,
            radius_m double precision NOT NULL,
            accidents integer NOT NULL,
            injured integer NOT NULL,
            killed integer NOT NULL,
            violations integer NOT NULL,
            first_at timestamptz NOT NULL,
            last_at timestamptz NOT NULL,
            accident_ids jsonb NOT NULL,
            ledger varchar(8) NOT NULL,
            hazard_id varchar(64),
            decision varchar(12) NOT NULL DEFAULT 'pending',
            decided_by varchar(128),
            decided_at timestamptz,
            note text
        )
        """
    )
    op.execute(f"CREATE INDEX blackspot_proposals_run ON {S}.blackspot_proposals (run_id, id)")
    op.execute(
        f"CREATE INDEX blackspot_proposals_pending ON {S}.blackspot_proposals (admin_code) WHERE decision = 'pending'"
    )


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.blackspot_proposals")
    op.execute(f"DROP TABLE {S}.blackspot_runs")
    op.execute(f"DROP TABLE {S}.violation_cell_offsets")
    op.execute(f"DROP TABLE {S}.violation_cells")
    op.execute(f"DROP TABLE {S}.hazard_events")
    op.execute(
        f"""
        ALTER TABLE {S}.hazards
            DROP COLUMN hazard_type, DROP COLUMN state, DROP COLUMN owner_code, DROP COLUMN owner_name,
            DROP COLUMN responsible_body, DROP COLUMN responsible_person, DROP COLUMN deadline,
            DROP COLUMN state_changed_at, DROP COLUMN rectified_at, DROP COLUMN escalated_at, DROP COLUMN supervised_by
        """
    )
