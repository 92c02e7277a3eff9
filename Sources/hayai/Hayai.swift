// The `hayai` command line: one subcommand per job (see README).
import ArgumentParser
import Foundation
import Kernels
import Workbench

@main
struct Hayai: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hayai",
        abstract: "A workbench for small language models: train, evaluate, compare and chat on one machine.",
        version: BuildInfo.current.line,
        subcommands: [QuickstartCommand.self, ChatCommand.self, TrainCommand.self, EvalCommand.self, CompareCommand.self,
                      DataCommand.self, TokenizerCommand.self, RunsCommand.self, ReportCommand.self, DashboardCommand.self,
                      ServeCommand.self, GenerateCommand.self, TokenizeCommand.self, LogitsCommand.self, BenchCommand.self, QuantizeCommand.self, MergeCommand.self]
    )

    static func main() {
        // The kernels are compiled for x86-64-v3 (AVX2, FMA, F16C): on an older CPU the first of them
        // would die with SIGILL, so say it in one line instead. HAYAI_FAULT_NO_AVX2=1 plays such a CPU (tests).
        if !QuantizedDot.hasAVX2 || ProcessInfo.processInfo.environment["HAYAI_FAULT_NO_AVX2"] == "1" {
            CLI.printError("Error: this CPU lacks AVX2, FMA or F16C, which hayai's kernels are built for (x86-64-v3)")
            Foundation.exit(1)
        }
        // Swift repairs invalid UTF-8 in arguments with U+FFFD; refuse it instead of tokenizing garbage.
        if let i = CLI.firstInvalidUTF8Argument() {
            CLI.printError("Error: command-line argument \(i) is not valid UTF-8")
            Foundation.exit(1)
        }
        CLI.absolutizePathVariables()
        main(nil)
    }
}
