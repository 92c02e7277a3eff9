// The `hayai` command line: one subcommand per job (see README).
import ArgumentParser
import Foundation
import Workbench

@main
struct Hayai: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hayai",
        abstract: "A workbench for small language models: train, evaluate, compare and chat on one machine.",
        version: BuildInfo.current.line,
        subcommands: [QuickstartCommand.self, ChatCommand.self, TrainCommand.self, EvalCommand.self, CompareCommand.self,
                      DataCommand.self, TokenizerCommand.self, RunsCommand.self, ReportCommand.self, DashboardCommand.self,
                      GenerateCommand.self, TokenizeCommand.self, LogitsCommand.self, BenchCommand.self, QuantizeCommand.self]
    )

    static func main() {
        // Swift repairs invalid UTF-8 in arguments with U+FFFD; refuse it instead of tokenizing garbage.
        if let i = CLI.firstInvalidUTF8Argument() {
            CLI.printError("Error: command-line argument \(i) is not valid UTF-8")
            Foundation.exit(1)
        }
        CLI.absolutizePathVariables()
        main(nil)
    }
}
