// The options that point a command at a model served elsewhere instead of a local one.
import ArgumentParser

/// `--endpoint URL [--endpoint-model NAME]`: a model served elsewhere through the OpenAI API instead of
/// a local MODEL (eval); the server tokenizes, so local-model options do not apply.
struct EndpointOptions: ParsableArguments {
    @Option(name: .customLong("endpoint"), help: ArgumentHelp("An OpenAI-compatible server to score instead of a local model "
                                                              + "(llama-server, vLLM, hayai serve), e.g. http://127.0.0.1:8080.", valueName: "url"))
    var url: String?

    @Option(name: .customLong("endpoint-model"), help: "The model name to ask the endpoint for (default: the first it lists).")
    var model: String?

    func validate(model local: String?, adapter: String?, runtime: RuntimeArguments) throws {
        if model != nil && url == nil { throw ValidationError("--endpoint-model needs --endpoint URL") }
        guard url != nil else { return }
        if local != nil { throw ValidationError("give either MODEL or --endpoint URL, not both") }
        if adapter != nil { throw ValidationError("--adapter runs beside a local model; it cannot reach a model behind --endpoint") }
        if runtime.threads != nil || runtime.contextLength != nil {
            throw ValidationError("-t and --ctx set how a local model runs; the endpoint's server decides that")
        }
    }
}
