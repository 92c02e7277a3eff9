// `hayai dashboard`: the report's views served live on 127.0.0.1, refreshing while runs train.
import ArgumentParser
import Dashboard
import Foundation
import RunStore

struct DashboardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Serve live training curves and eval results on http://127.0.0.1:PORT/.",
        discussion: """
            The page re-reads the run store every two seconds and redraws when a run has logged something new, \
            so it can stay open during training. JSON for scripts: /api/runs, /api/runs/NAME, \
            /api/runs/NAME/metrics (?name=M, ?since=STEP), /api/runs/NAME/eval. It listens on the loopback \
            address only. Stop it with Ctrl-C.
            """
    )

    @OptionGroup var workspace: WorkspaceOptions
    @Argument(help: "Runs to show (default: the latest training and eval runs, as they appear).")
    var runs: [String] = []
    @Option(help: "Port on 127.0.0.1 (0: any free port).")
    var port = 8765
    @Flag(name: .long, help: "Draw loss on a logarithmic axis (the page also takes ?log=1).")
    var logScale = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535.") }
    }

    func run() throws {
        let store = try workspace.openStore()
        for name in runs { _ = try store.requireRun(named: name) }
        let server = try DashboardServer(store: store, runs: runs, port: UInt16(port), options: ReportOptions(logScale: logScale))
        // The root command is synchronous: serve on the concurrency pool and block here until it ends.
        let outcome = TaskOutcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                let port = try await server.start()
                print("hayai dashboard: http://127.0.0.1:\(port)/  (\(store.workspace.path); Ctrl-C to stop)")
                fflush(stdout)
                try await server.wait()
            } catch {
                outcome.set(error)
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error { throw UserError("dashboard: \(error)") }
    }
}
