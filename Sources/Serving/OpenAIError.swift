// Errors a client of `hayai serve` gets, as OpenAI's error object with an HTTP status:
// {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}. Everything a request can do
// wrong ends here (never in a crash); the message says what to change.
import Basics
import Foundation
import Inference
import Kernels

/// The hand-written JSON value every reply is built from (FlyingFox has a type of the same name).
typealias JSONValue = Basics.JSONValue

public struct OpenAIError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?

    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil) {
        self.status = status; self.message = message; self.type = type; self.param = param; self.code = code
    }

    public var description: String { "\(status) \(type): \(message)" }

    /// 400: a field missing, of the wrong type or out of range.
    static func invalid(_ param: String?, _ message: String, code: String? = nil) -> OpenAIError {
        OpenAIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    static let malformedJSON = OpenAIError(status: 400, message: "the request body is not valid JSON", type: "invalid_request_error",
                                           code: "invalid_json")

    static func bodyTooLarge(limit: Int) -> OpenAIError {
        OpenAIError(status: 413, message: "the request body is larger than \(limit) bytes", type: "invalid_request_error",
                    code: "request_too_large")
    }

    static func unknownModel(_ name: String, served: String) -> OpenAIError {
        OpenAIError(status: 404, message: "the model '\(name)' does not exist; this server serves '\(served)'",
                    type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    static func unknownRoute(_ method: String, _ path: String) -> OpenAIError {
        OpenAIError(status: 404, message: "no route \(method) \(path) (try GET /v1/models, POST /v1/completions, POST /v1/chat/completions, GET /health)",
                    type: "invalid_request_error", code: "unknown_url")
    }

    static let shuttingDown = OpenAIError(status: 503, message: "the server is shutting down", type: "server_error",
                                          code: "shutting_down")

    /// The error a client sees for anything thrown while serving a request.
    static func from(_ error: Error) -> OpenAIError {
        switch error {
        case let e as OpenAIError: return e
        case InferenceError.contextOverflow(let tokens, let context):
            return .invalid("prompt", "the prompt needs \(tokens) tokens but the model's context holds \(context)",
                            code: "context_length_exceeded")
        case let e as InferenceError: return .invalid(nil, e.description)
        case is Interrupted: return .shuttingDown
        default: return OpenAIError(status: 500, message: "\(error)", type: "server_error")
        }
    }

    /// The JSON body.
    var json: JSONValue {
        .object(["error": .object(["message": .string(message), "type": .string(type),
                                   "param": param.map(JSONValue.string) ?? .null, "code": code.map(JSONValue.string) ?? .null])])
    }
}
