/** What the management API and fustorctl share about replicas on one database. */

/** One replica as `GET /api/v1/management/replicas` shows it. */
export interface ReplicaView {
  id: string;
  url: string | null;
  started_at: number;
  heartbeat_at: number;
  /** Heartbeat within two intervals (and not stopped). */
  live: boolean;
  /** When the replica stopped cleanly (SIGTERM); null while it runs or after it died without stopping. */
  stopped_at: number | null;
  agents_connected: number;
  leases: string[];
  /** The replica that answered. */
  self: boolean;
}
