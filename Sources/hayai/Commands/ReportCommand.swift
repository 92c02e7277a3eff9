// `hayai report`: one self-contained HTML file with the training curves, eval scores and disagreeing
// items of stored runs, to open in any browser or attach to a note.
import ArgumentParser
import Foundation
import RunStore

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write an HTML report: loss curves, learning rate, gradient norm, tokens/s, eval scores and disagreements.",
        discussion: """
            Without RUN names the report shows the latest training runs and the latest eval runs. Training runs \
            are overlaid in one chart per metric; eval runs get a table and a bar chart per task with 95% \
            intervals, and the items that the first eval run and each other one score differently. The file \
            needs no network: styles, charts (SVG) and its small script are inline.
            """
    )

    @OptionGroup var workspace: WorkspaceOptions
    @Argument(help: "Runs to show (default: the latest training and eval runs).")
    var runs: [String] = []
    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Where to write the page.", valueName: "path"))
    var output = "report.html"
    @Flag(name: .long, help: "Draw loss on a logarithmic axis.")
    var logScale = false
    @Option(help: "Without RUN names: how many of the latest training runs (and of the latest eval runs) to show.")
    var latest = 5

    func validate() throws {
        if latest < 1 { throw ValidationError("--latest must be at least 1.") }
    }

    func run() throws {
        let store = try workspace.openStoreForReading()
        let url = URL(fileURLWithPath: output)
        try Report.write(store: store, runs: runs, options: ReportOptions(logScale: logScale, latestRuns: latest), to: url)
        print(url.path)
    }
}
