// How an eval item reads to a person: its question (the document's usual question field, else the
// end of its prompt) and its answer options. The report and the stored comparisons both use this.
import Foundation

public enum ItemText {
    /// The question of an item: the task document's usual question field (lm-eval and JGLUE names),
    /// else the end of the rendered prompt.
    public static func question(doc: String?, prompt: String?, index: Int) -> String {
        if let doc, case .object(let fields)? = try? JSONValue.parse(doc) {
            func text(_ key: String) -> String? { if case .string(let s)? = fields[key], !s.isEmpty { return s }; return nil }
            if let premise = text("sentence1"), let hypothesis = text("sentence2") { return premise + "\n⇒ " + hypothesis }
            for key in ["question", "query", "sentence", "premise", "context", "ctx", "text", "input", "instruction", "prompt"] {
                if let value = text(key) { return value }
            }
        }
        if let prompt, !prompt.isEmpty { return prompt.count > 600 ? "…" + prompt.suffix(600) : prompt }
        return "item \(index)"
    }

    /// The answer options of a multiple-choice document: `choices`, `choice0`…, or `option1`/`option2`.
    public static func choices(doc: String?) -> [String] {
        guard let doc, case .object(let fields)? = try? JSONValue.parse(doc) else { return [] }
        if case .array(let values)? = fields["choices"] {
            return values.compactMap { if case .string(let s) = $0 { return s }; return nil }
        }
        for (prefix, start) in [("choice", 0), ("option", 1)] {
            var found: [String] = []
            var i = start
            while case .string(let s)? = fields["\(prefix)\(i)"] { found.append(s); i += 1 }
            if !found.isEmpty { return found }
        }
        return []
    }

}
