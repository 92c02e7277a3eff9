// The store keeps config and summary as JSON text and reads them through Basics' JSONValue
// (JSONDecoder keeps every bit of a double; Linux's JSONSerialization rounds some). JSONValue is
// part of this module's API (Run.configValues), so Basics comes with it.
@_exported import Basics

extension Run {
    /// `config` decoded; empty when it is not a JSON object.
    public var configValues: [String: JSONValue] {
        if case .object(let values)? = try? JSONValue.parse(config) { return values }
        return [:]
    }
}
