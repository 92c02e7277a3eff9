// Metrics of a run: named scalar series over training steps (train/loss, val/loss, val/bpb, lr,
// grad_norm, tokens_per_second, ...). Logging a step again replaces its values.
import Foundation
import GRDB

extension RunStore {
    /// Stores the metrics of one step in one transaction, committed before this returns, and refreshes
    /// the run's heartbeat.
    public func log(run: Run, step: Int, tokens: Int? = nil, metrics: [String: Double]) throws {
        let id = try requireID(run)
        let now = Date()
        try writeTransaction { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO metric (run_id, step, tokens, name, value, time) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (run_id, name, step) DO UPDATE SET tokens = excluded.tokens, value = excluded.value, time = excluded.time
                """)
            for (name, value) in metrics.sorted(by: { $0.key < $1.key }) {
                // SQLite turns NaN into NULL; say so explicitly rather than rely on it.
                let stored: Double? = value.isNaN ? nil : value
                try statement.execute(arguments: [id, step, tokens, name, stored, now.timeIntervalSince1970])
            }
            try Self.touch(db, runID: id, now: now)
        }
    }

    /// One metric's points in step order, or all metrics' points (by step, then name) when `name` is nil.
    public func metrics(run: Run, name: String? = nil) throws -> [MetricPoint] {
        let id = try requireID(run)
        return try pool.read { db in
            if let name {
                return try MetricPoint.fetchAll(db, sql: """
                    SELECT step, tokens, name, value, time FROM metric WHERE run_id = ? AND name = ? ORDER BY step
                    """, arguments: [id, name])
            }
            return try MetricPoint.fetchAll(db, sql: """
                SELECT step, tokens, name, value, time FROM metric WHERE run_id = ? ORDER BY step, name
                """, arguments: [id])
        }
    }

    public func metricNames(run: Run) throws -> [String] {
        let id = try requireID(run)
        return try pool.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT name FROM metric WHERE run_id = ? ORDER BY name", arguments: [id])
        }
    }

    /// Each metric's value at its last logged step.
    public func lastValues(run: Run) throws -> [String: Double] {
        let id = try requireID(run)
        return try pool.read { db in try Self.lastValues(db, runID: id) }
    }

    static func lastValues(_ db: Database, runID: Int64) throws -> [String: Double] {
        let rows = try Row.fetchAll(db, sql: """
            SELECT m.name, m.value FROM metric m
            WHERE m.run_id = ? AND m.step = (SELECT MAX(step) FROM metric WHERE run_id = m.run_id AND name = m.name)
            """, arguments: [runID])
        var values: [String: Double] = [:]
        for row in rows { values[row["name"]] = (row["value"] as Double?) ?? .nan }
        return values
    }

    /// Count, last value and extremes of every metric of a run, by name. NaN points count but take
    /// no part in the minimum and maximum.
    public func metricStats(run: Run) throws -> [MetricStats] {
        let id = try requireID(run)
        return try pool.read { db in
            let last = try Self.lastValues(db, runID: id)
            let rows = try Row.fetchAll(db, sql: """
                SELECT name, COUNT(*) AS count, MAX(step) AS last_step, MIN(value) AS min, MAX(value) AS max,
                       (SELECT step FROM metric i WHERE i.run_id = m.run_id AND i.name = m.name AND i.value IS NOT NULL
                        ORDER BY i.value, i.step LIMIT 1) AS min_step
                FROM metric m WHERE run_id = ? GROUP BY name ORDER BY name
                """, arguments: [id])
            return rows.map { row in
                let name: String = row["name"]
                return MetricStats(name: name, count: row["count"], lastStep: row["last_step"], last: last[name] ?? .nan,
                                   min: (row["min"] as Double?) ?? .nan, minStep: (row["min_step"] as Int?) ?? row["last_step"],
                                   max: (row["max"] as Double?) ?? .nan)
            }
        }
    }
}
