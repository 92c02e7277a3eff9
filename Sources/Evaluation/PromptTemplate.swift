// Prompt templates: lm-eval's Jinja-style `{{field}}`, rendered by Stencil. Jinja subscripts
// (`{{choices[0]}}`, `{{answers['text'][0]}}`) are rewritten to Stencil's `choices.0`, and a few
// filters that lm-eval tasks need in Python are added (see `PromptTemplate.filters`).
import Foundation
import Stencil

public struct PromptTemplate: @unchecked Sendable {
    public let source: String
    private let template: Template

    public init(_ source: String, file: String = "") throws {
        self.source = source
        do {
            template = Template(templateString: PromptTemplate.stencilSource(source), environment: PromptTemplate.environment)
            // Stencil parses lazily; a render with no context surfaces syntax errors now.
            _ = try template.render([:])
        } catch {
            throw EvaluationError.template(file: file, template: source, reason: "\(error)")
        }
    }

    /// Whether `text` has any template syntax (otherwise it is plain text or a field name).
    public static func isTemplate(_ text: String) -> Bool {
        text.contains("{{") || text.contains("{%")
    }

    public func render(_ doc: JSONValue, file: String = "") throws -> String {
        let context: [String: Any]
        if case .object(let o) = doc { context = o.mapValues(\.templateValue) } else { context = ["doc": doc.templateValue] }
        do {
            return try template.render(context)
        } catch {
            throw EvaluationError.template(file: file, template: source, reason: "\(error)")
        }
    }

    /// Jinja `x[0]` / `x['key']` / `x["key"]` inside tags to Stencil's `x.0` / `x.key`.
    static func stencilSource(_ jinja: String) -> String {
        guard jinja.contains("[") else { return jinja }
        var out = ""
        var rest = Substring(jinja)
        while let open = rest.range(of: "{{") ?? rest.range(of: "{%") {
            let closer = rest[open].hasPrefix("{{") ? "}}" : "%}"
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: closer) else { break }
            var tag = String(rest[open.lowerBound..<close.upperBound])
            tag = tag.replacingOccurrences(of: #"\[\s*(\d+)\s*\]"#, with: ".$1", options: .regularExpression)
            tag = tag.replacingOccurrences(of: #"\[\s*['"]([A-Za-z0-9_]+)['"]\s*\]"#, with: ".$1", options: .regularExpression)
            out += tag
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    static let environment = Environment(extensions: [filters])

    /// Filters beyond Stencil's own (`join`, `split`, `lowercase`, `default`, ...):
    /// `trim`/`strip`, `before:"_"` and `after:"_"` (text around the first occurrence),
    /// `after_last:"[SEP]"`, `add:N`, `int`, `replace:"a","b"`.
    static let filters: Extension = {
        let ext = Extension()
        func text(_ v: Any?) -> String {
            switch v {
            case nil: return ""
            case let s as String: return s
            case let v?: return "\(v)"
            }
        }
        func arg(_ args: [Any?], _ i: Int, _ name: String) throws -> String {
            guard i < args.count else { throw TemplateSyntaxError("filter \(name) needs an argument") }
            return text(args[i])
        }
        let trim: (Any?) throws -> Any? = { text($0).trimmingCharacters(in: .whitespacesAndNewlines) }
        ext.registerFilter("trim", filter: trim)
        ext.registerFilter("strip", filter: trim)
        ext.registerFilter("before") { (value: Any?, args: [Any?]) in
            let s = text(value), sep = try arg(args, 0, "before")
            guard let r = s.range(of: sep) else { return s }
            return String(s[..<r.lowerBound])
        }
        ext.registerFilter("after") { (value: Any?, args: [Any?]) in
            let s = text(value), sep = try arg(args, 0, "after")
            guard let r = s.range(of: sep) else { return "" }
            return String(s[r.upperBound...])
        }
        ext.registerFilter("after_last") { (value: Any?, args: [Any?]) in
            let s = text(value), sep = try arg(args, 0, "after_last")
            guard let r = s.range(of: sep, options: .backwards) else { return s }
            return String(s[r.upperBound...])
        }
        ext.registerFilter("replace") { (value: Any?, args: [Any?]) in
            text(value).replacingOccurrences(of: try arg(args, 0, "replace"), with: try arg(args, 1, "replace"))
        }
        ext.registerFilter("int") { (value: Any?) in
            if let i = value as? Int { return i }
            return Int(text(value).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        ext.registerFilter("add") { (value: Any?, args: [Any?]) in
            let a = (value as? Int) ?? Int(text(value)) ?? 0
            let raw = try arg(args, 0, "add")
            let b = (args.first.flatMap { $0 as? Int }) ?? Int(raw) ?? 0
            return a + b
        }
        return ext
    }()
}
