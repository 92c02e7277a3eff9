// The `hayai` command line: one subcommand per job (see README).
import ArgumentParser

@main
struct Hayai: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hayai",
        abstract: "A workbench for small language models: train, evaluate, compare and chat on one machine.",
        subcommands: []
    )
}
