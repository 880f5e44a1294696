// Option texts shared by `precheck server` and its subcommands (no imports: the CLI loads it at start).

/** Every server command that opens the data takes --database (before or after the subcommand). */
export const DATABASE_HELP =
  'PostgreSQL URL (postgres://user:pass@host:port/db) shared by several instances; default PRECHECK_DATABASE_URL, else SQLite in --data';
