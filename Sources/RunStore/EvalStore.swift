// Eval results and per-item outputs of an eval run. Items are saved as they are scored, so an
// interrupted eval resumes by skipping `completedItems`; saving an item or result again replaces it.
import Foundation
import GRDB

extension RunStore {
    public func saveEvalItem(_ item: EvalItem, run: Run) throws {
        try saveEvalItems([item], run: run)
    }

    /// Saves items in one transaction (a batch is far cheaper than one commit per item).
    public func saveEvalItems(_ items: [EvalItem], run: Run) throws {
        let id = try requireID(run)
        try writeTransaction { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO eval_item (run_id, task, item_index, doc, prompt, prediction, target, scores, correct, metrics)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (run_id, task, item_index) DO UPDATE SET doc = excluded.doc, prompt = excluded.prompt,
                    prediction = excluded.prediction, target = excluded.target, scores = excluded.scores,
                    correct = excluded.correct, metrics = excluded.metrics
                """)
            for item in items {
                try statement.execute(arguments: [id, item.task, item.itemIndex, item.doc, item.prompt, item.prediction,
                                                  item.target, item.scores, item.correct, item.metrics])
            }
            try Self.touch(db, runID: id, now: Date())
        }
    }

    /// Indices of the items of `task` already stored for this run.
    public func completedItems(run: Run, task: String) throws -> Set<Int> {
        let id = try requireID(run)
        return try pool.read { db in
            Set(try Int.fetchAll(db, sql: "SELECT item_index FROM eval_item WHERE run_id = ? AND task = ?", arguments: [id, task]))
        }
    }

    public func evalItems(run: Run, task: String) throws -> [EvalItem] {
        let id = try requireID(run)
        return try pool.read { db in
            try EvalItem.fetchAll(db, sql: """
                SELECT task, item_index, doc, prompt, prediction, target, scores, correct, metrics
                FROM eval_item WHERE run_id = ? AND task = ? ORDER BY item_index
                """, arguments: [id, task])
        }
    }

    public func saveEvalResult(_ result: EvalResult, run: Run) throws {
        try saveEvalResults([result], run: run)
    }

    public func saveEvalResults(_ results: [EvalResult], run: Run) throws {
        let id = try requireID(run)
        try writeTransaction { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO eval_result (run_id, task, task_version, prompt_version, num_fewshot, fewshot_seed, metric, value, stderr, n)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (run_id, task, metric) DO UPDATE SET task_version = excluded.task_version,
                    prompt_version = excluded.prompt_version, num_fewshot = excluded.num_fewshot,
                    fewshot_seed = excluded.fewshot_seed, value = excluded.value, stderr = excluded.stderr, n = excluded.n
                """)
            for r in results {
                let value: Double? = r.value.isNaN ? nil : r.value
                let stderr: Double? = r.stderr.flatMap { $0.isNaN ? nil : $0 }
                try statement.execute(arguments: [id, r.task, r.taskVersion, r.promptVersion, r.numFewshot, r.fewshotSeed,
                                                  r.metric, value, stderr, r.n])
            }
            try Self.touch(db, runID: id, now: Date())
        }
    }

    /// All scores of an eval run, by task then metric.
    public func evalResults(run: Run) throws -> [EvalResult] {
        let id = try requireID(run)
        return try pool.read { db in
            try EvalResult.fetchAll(db, sql: """
                SELECT task, task_version, prompt_version, num_fewshot, fewshot_seed, metric, value, stderr, n
                FROM eval_result WHERE run_id = ? ORDER BY task, metric
                """, arguments: [id])
        }
    }
}
