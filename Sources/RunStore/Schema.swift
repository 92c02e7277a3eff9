// The tables of hayai.sqlite, created and upgraded by GRDB migrations. A migration, once released,
// never changes: a later schema change is a new migration appended below.
//
//   run          one row per training, eval or compare run (name unique)
//   metric       (run_id, name, step) unique: logging a step again replaces its value, so a run
//                resumed from an earlier checkpoint keeps one clean curve
//   eval_result  (run_id, task, metric) unique: one score per task and metric of an eval run
//   eval_item    (run_id, task, item_index) unique: per-item outputs; a resumed eval skips these
//
// Times: run's *_at columns are GRDB dates (UTC text, "YYYY-MM-DD HH:MM:SS.SSS"), readable in the
// sqlite3 shell; metric.time is Unix seconds (REAL), compact for millions of rows.
// Deleting a run deletes its metrics, eval results and items (ON DELETE CASCADE).
import GRDB

enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE run (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL CHECK (kind IN ('pretrain', 'sft', 'eval', 'compare')),
                    model TEXT,
                    config TEXT NOT NULL DEFAULT '{}',
                    status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
                    pid INTEGER,
                    host TEXT,
                    started_at DATETIME NOT NULL,
                    ended_at DATETIME,
                    heartbeat_at DATETIME,
                    summary TEXT,
                    parent TEXT,
                    notes TEXT
                );
                CREATE INDEX run_status ON run(status);

                CREATE TABLE metric (
                    run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    step INTEGER NOT NULL,
                    tokens INTEGER,
                    name TEXT NOT NULL,
                    value REAL,
                    time REAL NOT NULL
                );
                CREATE UNIQUE INDEX metric_run_name_step ON metric(run_id, name, step);

                CREATE TABLE eval_result (
                    run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    task TEXT NOT NULL,
                    task_version TEXT,
                    prompt_version TEXT,
                    num_fewshot INTEGER NOT NULL DEFAULT 0,
                    fewshot_seed INTEGER,
                    metric TEXT NOT NULL,
                    value REAL,
                    stderr REAL,
                    n INTEGER NOT NULL
                );
                CREATE UNIQUE INDEX eval_result_run_task_metric ON eval_result(run_id, task, metric);

                CREATE TABLE eval_item (
                    run_id INTEGER NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    task TEXT NOT NULL,
                    item_index INTEGER NOT NULL,
                    doc TEXT,
                    prompt TEXT,
                    prediction TEXT,
                    target TEXT,
                    scores TEXT,
                    correct INTEGER,
                    metrics TEXT
                );
                CREATE UNIQUE INDEX eval_item_run_task_index ON eval_item(run_id, task, item_index);
                """)
        }
        return migrator
    }
}
