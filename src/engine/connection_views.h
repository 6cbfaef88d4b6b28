// The template's pg_stat_activity and pg_stat_database: a tenant's
// connections as the server knows them.
//
// A tenant's Postgres connections share one engine backend, so Postgres'
// own statistics see one session. The server knows each connection (its
// pid, user, application_name, address, state, query) and hands the
// guest a report of them as the file /dev/pgthaw-connections
// (vfs::FileSystem::set_connections_report), set for each exchange through
// ExecOptions::connections_report. The template replaces the two views
// with ones that read it; where no report is set (a data directory opened
// by `pgthaw sql`, the cold-start and warm-proxy instances) they show what
// PGlite's own views show.
//
// The report is one JSON object (server/connection_activity.h writes it):
//   current_pid  the connection whose exchange reads it (0: none, HTTP)
//   connections  one object per connection: pid, usename,
//                application_name, client_addr (null if unknown),
//                client_port, backend_start, xact_start, query_start,
//                state_change (ISO 8601, or null), state, wait_event_type,
//                wait_event, query
//   database     numbackends, sessions, sessions_abandoned, sessions_fatal,
//                sessions_killed, session_time, active_time,
//                idle_in_transaction_time (milliseconds): the tenant's
//                database's counters as pg_stat_database names them
//
// The views keep Postgres 18's columns, names and types (CREATE OR REPLACE
// VIEW requires it) and Postgres' rule for what another user's row shows:
// only its identity and "<insufficient privilege>" as its query, unless the
// reader has that user's privileges or pg_read_all_stats.
#pragma once

namespace pgthaw::engine {

inline constexpr const char* kConnectionViewsSql = R"sql(
CREATE FUNCTION pg_catalog.pgthaw_connections_report() RETURNS jsonb
  LANGUAGE sql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS $$ SELECT nullif(pg_read_file('/dev/pgthaw-connections'), '')::jsonb $$;

CREATE OR REPLACE VIEW pg_catalog.pg_stat_activity AS
WITH report AS MATERIALIZED (SELECT pg_catalog.pgthaw_connections_report() AS r)
SELECT s.datid, d.datname, s.pid, s.leader_pid, s.usesysid, u.rolname AS usename,
       s.application_name, s.client_addr, s.client_hostname, s.client_port,
       s.backend_start, s.xact_start, s.query_start, s.state_change,
       s.wait_event_type, s.wait_event, s.state, s.backend_xid, s.backend_xmin,
       s.query_id, s.query, s.backend_type
  FROM report,
       pg_stat_get_activity(NULL::integer) s(datid, pid, usesysid, application_name, state,
         query, wait_event_type, wait_event, xact_start, query_start, backend_start,
         state_change, client_addr, client_hostname, client_port, backend_xid, backend_xmin,
         backend_type, ssl, sslversion, sslcipher, sslbits, ssl_client_dn, ssl_client_serial,
         ssl_issuer_dn, gss_auth, gss_princ, gss_enc, gss_delegation, leader_pid, query_id)
       LEFT JOIN pg_database d ON s.datid = d.oid
       LEFT JOIN pg_authid u ON s.usesysid = u.oid
 WHERE report.r IS NULL
UNION ALL
SELECT db.oid, db.datname, c.pid, NULL::integer, u.oid, c.usename::name,
       c.application_name,
       CASE WHEN v.visible THEN c.client_addr END,
       NULL::text,
       CASE WHEN v.visible THEN c.client_port END,
       CASE WHEN v.visible THEN c.backend_start END,
       CASE WHEN v.visible THEN coalesce(e.xact_start, c.xact_start) END,
       CASE WHEN v.visible THEN coalesce(e.query_start, c.query_start) END,
       CASE WHEN v.visible THEN coalesce(e.state_change, c.state_change) END,
       CASE WHEN v.visible THEN c.wait_event_type END,
       CASE WHEN v.visible THEN c.wait_event END,
       CASE WHEN v.visible THEN c.state END,
       CASE WHEN v.visible THEN e.backend_xid END,
       CASE WHEN v.visible THEN e.backend_xmin END,
       CASE WHEN v.visible THEN e.query_id END,
       CASE WHEN v.visible THEN c.query ELSE '<insufficient privilege>' END,
       CASE WHEN v.visible THEN 'client backend' END
  FROM report
       CROSS JOIN LATERAL jsonb_to_recordset(report.r -> 'connections') AS c(pid integer,
         usename text, application_name text, client_addr inet, client_port integer,
         backend_start timestamptz, xact_start timestamptz, query_start timestamptz,
         state_change timestamptz, state text, wait_event_type text, wait_event text,
         query text)
       LEFT JOIN pg_database db ON db.datname = current_database()
       LEFT JOIN pg_authid u ON u.rolname = c.usename
       LEFT JOIN pg_stat_get_activity(NULL::integer) e ON c.pid = (report.r ->> 'current_pid')::integer
       CROSS JOIN LATERAL (SELECT pg_has_role('pg_read_all_stats', 'USAGE') OR
                                  coalesce(pg_has_role(u.oid, 'USAGE'), false) AS visible) v
 WHERE report.r IS NOT NULL;

CREATE OR REPLACE VIEW pg_catalog.pg_stat_database AS
WITH report AS MATERIALIZED (SELECT pg_catalog.pgthaw_connections_report() -> 'database' AS r)
SELECT d.oid AS datid, d.datname,
       CASE WHEN d.oid = 0::oid THEN 0
            WHEN m.mine THEN (report.r ->> 'numbackends')::integer
            ELSE pg_stat_get_db_numbackends(d.oid) END AS numbackends,
       pg_stat_get_db_xact_commit(d.oid) AS xact_commit,
       pg_stat_get_db_xact_rollback(d.oid) AS xact_rollback,
       pg_stat_get_db_blocks_fetched(d.oid) - pg_stat_get_db_blocks_hit(d.oid) AS blks_read,
       pg_stat_get_db_blocks_hit(d.oid) AS blks_hit,
       pg_stat_get_db_tuples_returned(d.oid) AS tup_returned,
       pg_stat_get_db_tuples_fetched(d.oid) AS tup_fetched,
       pg_stat_get_db_tuples_inserted(d.oid) AS tup_inserted,
       pg_stat_get_db_tuples_updated(d.oid) AS tup_updated,
       pg_stat_get_db_tuples_deleted(d.oid) AS tup_deleted,
       pg_stat_get_db_conflict_all(d.oid) AS conflicts,
       pg_stat_get_db_temp_files(d.oid) AS temp_files,
       pg_stat_get_db_temp_bytes(d.oid) AS temp_bytes,
       pg_stat_get_db_deadlocks(d.oid) AS deadlocks,
       pg_stat_get_db_checksum_failures(d.oid) AS checksum_failures,
       pg_stat_get_db_checksum_last_failure(d.oid) AS checksum_last_failure,
       pg_stat_get_db_blk_read_time(d.oid) AS blk_read_time,
       pg_stat_get_db_blk_write_time(d.oid) AS blk_write_time,
       CASE WHEN m.mine THEN (report.r ->> 'session_time')::double precision
            ELSE pg_stat_get_db_session_time(d.oid) END AS session_time,
       CASE WHEN m.mine THEN (report.r ->> 'active_time')::double precision
            ELSE pg_stat_get_db_active_time(d.oid) END AS active_time,
       CASE WHEN m.mine THEN (report.r ->> 'idle_in_transaction_time')::double precision
            ELSE pg_stat_get_db_idle_in_transaction_time(d.oid) END AS idle_in_transaction_time,
       CASE WHEN m.mine THEN (report.r ->> 'sessions')::bigint
            ELSE pg_stat_get_db_sessions(d.oid) END AS sessions,
       CASE WHEN m.mine THEN (report.r ->> 'sessions_abandoned')::bigint
            ELSE pg_stat_get_db_sessions_abandoned(d.oid) END AS sessions_abandoned,
       CASE WHEN m.mine THEN (report.r ->> 'sessions_fatal')::bigint
            ELSE pg_stat_get_db_sessions_fatal(d.oid) END AS sessions_fatal,
       CASE WHEN m.mine THEN (report.r ->> 'sessions_killed')::bigint
            ELSE pg_stat_get_db_sessions_killed(d.oid) END AS sessions_killed,
       pg_stat_get_db_parallel_workers_to_launch(d.oid) AS parallel_workers_to_launch,
       pg_stat_get_db_parallel_workers_launched(d.oid) AS parallel_workers_launched,
       pg_stat_get_db_stat_reset_time(d.oid) AS stats_reset
  FROM (SELECT 0::oid AS oid, NULL::name AS datname
        UNION ALL
        SELECT pg_database.oid, pg_database.datname FROM pg_database) d
       CROSS JOIN report
       CROSS JOIN LATERAL (SELECT report.r IS NOT NULL AND
                                  d.datname = current_database() AS mine) m;
)sql";

}  // namespace pgthaw::engine
