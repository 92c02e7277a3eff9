// The run store: every run, metric and eval result of a workspace, in one SQLite file
// (`hayai.sqlite` in the workspace folder: `--home`, else $HAYAI_HOME, else ./hayai-runs).
//
// The file is opened as a GRDB DatabasePool in WAL mode with synchronous=NORMAL: readers never block
// the writer, several processes (a training run, an eval, `hayai runs list`) can use the file at
// once, and a transaction is durable against the writing process being killed the moment it
// commits (a power cut may lose the last few). Every write method commits before it returns, so
// "nothing is lost when a run is stopped" holds for everything whose call returned.
import Foundation
import GRDB

public final class RunStore: Sendable {
    public static let databaseFileName = "hayai.sqlite"
    /// How long a running run may go without a heartbeat before `markInterruptedRuns` gives up on it.
    public static let defaultStaleAfter: TimeInterval = 15 * 60

    public let workspace: URL
    public var databaseURL: URL { workspace.appendingPathComponent(Self.databaseFileName) }
    let pool: any DatabaseWriter
    /// Why the store was opened read-only (`openForReading` on a store that cannot be written); nil when writable.
    public let readOnlyReason: String?

    /// $HAYAI_HOME, else ./hayai-runs.
    public static var defaultWorkspace: URL {
        if let home = ProcessInfo.processInfo.environment["HAYAI_HOME"], !home.isEmpty {
            return URL(fileURLWithPath: home)
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("hayai-runs")
    }

    /// Opens (creating when needed) the store in `workspace`, brings its schema up to date and marks
    /// runs whose process has died as interrupted.
    public static func open(workspace: URL? = nil, markInterrupted: Bool = true) throws -> RunStore {
        let store = try RunStore(workspace: workspace ?? defaultWorkspace)
        if markInterrupted { try store.markInterruptedRuns() }
        return store
    }

    /// Opens the store to read it (`runs list`, `runs show`, `report`): writable when it can be, else read-only
    /// (a full disk, a read-only folder or file), with `readOnlyReason` saying why; nothing is written then.
    public static func openForReading(workspace: URL? = nil) throws -> RunStore {
        let folder = (workspace ?? defaultWorkspace).standardizedFileURL
        do {
            return try open(workspace: folder)
        } catch let error as RunStoreError {
            let file = folder.appendingPathComponent(databaseFileName).path
            guard FileManager.default.fileExists(atPath: file), let store = try? RunStore(readOnly: folder, because: "\(error)") else { throw error }
            return store
        }
    }

    /// The store as it is on disk, without writing anything: SQLite's read-only mode, else the file taken as
    /// immutable (no -wal/-shm files created: a folder that cannot be written, or a disk with no space left).
    private init(readOnly workspace: URL, because reason: String) throws {
        self.workspace = workspace
        readOnlyReason = reason
        var configuration = Configuration()
        configuration.label = "hayai.runstore.readonly"
        configuration.readonly = true
        let path = workspace.appendingPathComponent(Self.databaseFileName).path
        let encoded = path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path
        var opened: DatabaseQueue?
        for uri in ["file:\(encoded)?mode=ro", "file:\(encoded)?immutable=1"] {
            guard let queue = try? DatabaseQueue(path: uri, configuration: configuration),
                  (try? queue.read({ db in try Int.fetchOne(db, sql: "SELECT count(*) FROM run") })) != nil else { continue }
            opened = queue
            break
        }
        guard let opened else { throw RunStoreError.cannotOpen(path: path, reason: "cannot read it either") }
        pool = opened
    }

    /// A write transaction whose failure to reach the disk says so, naming the file: "no space left" for a full
    /// disk (SQLite's "database or disk is full"), the SQLite message for a read-only or failing file. Other
    /// errors (a constraint) pass through as they are.
    func writeTransaction<T>(_ updates: (Database) throws -> T) throws -> T {
        do {
            return try pool.write(updates)
        } catch let error as DatabaseError {
            switch error.resultCode {
            case .SQLITE_FULL:
                throw RunStoreError.cannotWrite(path: databaseURL.path, reason: "no space left on the device (SQLite: \(error.message ?? "database or disk is full"))")
            case .SQLITE_READONLY, .SQLITE_IOERR, .SQLITE_CANTOPEN, .SQLITE_PERM:
                if readOnlyReason != nil { throw RunStoreError.cannotWrite(path: databaseURL.path, reason: "the store was opened read-only") }
                throw RunStoreError.cannotWrite(path: databaseURL.path, reason: error.message ?? "\(error)")
            default:
                throw error
            }
        }
    }

    private init(workspace: URL) throws {
        self.workspace = workspace.standardizedFileURL
        readOnlyReason = nil
        let path = self.workspace.appendingPathComponent(Self.databaseFileName).path
        do {
            try FileManager.default.createDirectory(at: self.workspace, withIntermediateDirectories: true)
        } catch {
            throw RunStoreError.cannotOpen(path: self.workspace.path, reason: error.localizedDescription)
        }
        var configuration = Configuration()
        configuration.label = "hayai.runstore"
        configuration.foreignKeysEnabled = true
        // Another process may hold the write lock for a moment (a training step's commit): wait, don't fail.
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw RunStoreError.cannotOpen(path: path, reason: "\(error)")
        }
        self.pool = pool
        // Two processes opening a new workspace at once may both try the first migration; the loser's
        // transaction rolls back, and on the next try it finds the schema in place.
        var attempt = 0
        while true {
            do {
                try Schema.migrator.migrate(pool)
                break
            } catch {
                attempt += 1
                if let error = error as? DatabaseError, error.resultCode == .SQLITE_FULL {
                    throw RunStoreError.cannotOpen(path: path, reason: "no space left on the device (SQLite: \(error.message ?? "database or disk is full"))")
                }
                if attempt >= 3 { throw RunStoreError.cannotOpen(path: path, reason: "\(error)") }
                usleep(50_000)
            }
        }
    }

    // MARK: - Runs

    /// Starts a run owned by this process. Without a name, one is generated from the kind and time.
    public func createRun(kind: RunKind, name: String? = nil, model: String? = nil, config: String = "{}",
                          parent: String? = nil, notes: String? = nil) throws -> Run {
        try createRun(kind: kind, name: name, model: model, config: config, parent: parent, notes: notes,
                      pid: Liveness.currentPid, host: Liveness.currentHost, now: Date())
    }

    /// Starts a run with its configuration encoded as a JSON object (keys sorted).
    public func createRun<Config: Encodable>(kind: RunKind, name: String? = nil, model: String? = nil, config: Config,
                                             parent: String? = nil, notes: String? = nil) throws -> Run {
        try createRun(kind: kind, name: name, model: model, config: JSONText.encode(config), parent: parent, notes: notes)
    }

    func createRun(kind: RunKind, name: String?, model: String?, config: String, parent: String?, notes: String?,
                   pid: Int32?, host: String?, now: Date) throws -> Run {
        if let name { try RunNames.validate(name) }
        try JSONText.requireObject(config, what: "the run config")
        var attempt = 0
        while true {
            var run = Run(id: nil, name: name ?? RunNames.generated(kind: kind, at: now, attempt: attempt), kind: kind,
                          model: model, config: config, status: .running, pid: pid, host: host, startedAt: now,
                          endedAt: nil, heartbeatAt: now, summary: nil, parent: parent, notes: notes)
            do {
                try writeTransaction { db in try run.insert(db) }
                return run
            } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                guard name == nil else { throw RunStoreError.nameTaken(name: run.name) }
                attempt += 1
            }
        }
    }

    /// Takes over an existing run (an eval resumed after an interruption): running again, owned by this process.
    @discardableResult
    public func resume(run: Run) throws -> Run {
        let id = try requireID(run)
        let now = Date()
        try writeTransaction { db in
            try db.execute(sql: """
                UPDATE run SET status = 'running', pid = ?, host = ?, heartbeat_at = ?, ended_at = NULL WHERE id = ?
                """, arguments: [Liveness.currentPid, Liveness.currentHost, now, id])
        }
        return try fetchRun(id: id)
    }

    /// Ends a run. The stored summary is the last value of every metric, overridden by `summary`
    /// (non-finite values are left out: JSON has no NaN).
    @discardableResult
    public func finish(run: Run, status: RunStatus = .completed, summary: [String: Double] = [:]) throws -> Run {
        let id = try requireID(run)
        let now = Date()
        try writeTransaction { db in
            var values = try Self.lastValues(db, runID: id)
            values.merge(summary) { _, given in given }
            try db.execute(sql: "UPDATE run SET status = ?, ended_at = ?, heartbeat_at = ?, summary = ? WHERE id = ?",
                           arguments: [status, now, now, JSONText.numbers(values), id])
        }
        return try fetchRun(id: id)
    }

    public func heartbeat(run: Run) throws {
        let id = try requireID(run)
        try writeTransaction { db in try Self.touch(db, runID: id, now: Date()) }
    }

    public func setNotes(run: Run, notes: String?) throws {
        let id = try requireID(run)
        try writeTransaction { db in try db.execute(sql: "UPDATE run SET notes = ? WHERE id = ?", arguments: [notes, id]) }
    }

    /// Every write made for a run refreshes its heartbeat. A run wrongly marked interrupted (its
    /// process was stopped with ^Z past the stale limit, say) becomes running again when its own
    /// process writes to it.
    static func touch(_ db: Database, runID: Int64, now: Date) throws {
        try db.execute(sql: """
            UPDATE run SET heartbeat_at = ?,
                status = CASE WHEN status = 'interrupted' AND pid = ? AND host = ? THEN 'running' ELSE status END,
                ended_at = CASE WHEN status = 'interrupted' AND pid = ? AND host = ? THEN NULL ELSE ended_at END
            WHERE id = ?
            """, arguments: [now, Liveness.currentPid, Liveness.currentHost, Liveness.currentPid, Liveness.currentHost, runID])
    }

    /// Marks as interrupted every running run whose process is gone: on this host, its pid is not
    /// alive; anywhere, its last heartbeat is older than `staleAfter`. Its end time becomes its last
    /// heartbeat. Returns the names it marked. `open` calls this.
    @discardableResult
    public func markInterruptedRuns(staleAfter: TimeInterval = RunStore.defaultStaleAfter, now: Date = Date()) throws -> [String] {
        let host = Liveness.currentHost
        return try writeTransaction { db in
            let running = try Run.filter(Column("status") == RunStatus.running.rawValue).fetchAll(db)
            var marked: [String] = []
            for run in running {
                let lastSign = run.heartbeatAt ?? run.startedAt
                let stale = now.timeIntervalSince(lastSign) > staleAfter
                let deadHere = run.host == host && !(run.pid.map(Liveness.isAlive) ?? false)
                guard stale || deadHere, let id = run.id else { continue }
                try db.execute(sql: "UPDATE run SET status = 'interrupted', ended_at = ? WHERE id = ? AND status = 'running'",
                               arguments: [lastSign, id])
                marked.append(run.name)
            }
            return marked
        }
    }

    /// Runs, newest first. `nameLike` matches a substring of the name, or is a SQL LIKE pattern when it holds `%`.
    public func runs(kind: RunKind? = nil, status: RunStatus? = nil, nameLike: String? = nil, limit: Int? = nil) throws -> [Run] {
        try pool.read { db in
            var request = Run.all()
            if let kind { request = request.filter(Column("kind") == kind.rawValue) }
            if let status { request = request.filter(Column("status") == status.rawValue) }
            if let nameLike, !nameLike.isEmpty {
                if nameLike.contains("%") {
                    request = request.filter(sql: "name LIKE ?", arguments: [nameLike])
                } else {
                    let escaped = nameLike.replacingOccurrences(of: "\\", with: "\\\\")
                        .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
                    request = request.filter(sql: "name LIKE ? ESCAPE '\\'", arguments: ["%\(escaped)%"])
                }
            }
            request = request.order(Column("started_at").desc, Column("id").desc)
            if let limit { request = request.limit(limit) }
            return try request.fetchAll(db)
        }
    }

    public func run(named name: String) throws -> Run? {
        try pool.read { db in try Run.filter(Column("name") == name).fetchOne(db) }
    }

    /// The run, or `runNotFound`.
    public func requireRun(named name: String) throws -> Run {
        guard let run = try run(named: name) else { throw RunStoreError.runNotFound(name: name) }
        return run
    }

    /// Deletes a run with its metrics and eval data. A run that is still running (its process alive)
    /// is refused unless `force`.
    public func deleteRun(named name: String, force: Bool = false) throws {
        try markInterruptedRuns()
        let run = try requireRun(named: name)
        if run.status == .running && !force {
            throw RunStoreError.runIsLive(name: name, pid: run.pid, host: run.host)
        }
        _ = try writeTransaction { db in try Run.deleteOne(db, key: run.id) }
    }

    /// SQLite's `PRAGMA integrity_check`: empty when the file is sound, else the problems it lists.
    public func integrityProblems() throws -> [String] {
        let lines = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
        return lines == ["ok"] ? [] : lines
    }

    func fetchRun(id: Int64) throws -> Run {
        guard let run = try pool.read({ db in try Run.fetchOne(db, key: id) }) else {
            throw RunStoreError.runNotFound(name: "#\(id)")
        }
        return run
    }

    func requireID(_ run: Run) throws -> Int64 {
        guard let id = run.id else { throw RunStoreError.runNotFound(name: run.name) }
        return id
    }
}
