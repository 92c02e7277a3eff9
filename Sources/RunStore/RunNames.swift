// Run names: checked when given, generated when not ("pretrain-20261125-193000", "-2" added when a
// second run of the same kind starts within the same second).
import Foundation

enum RunNames {
    static let maxLength = 100

    /// Names end up in paths (export folders) and shell commands, so they keep to a safe alphabet.
    static func validate(_ name: String) throws {
        guard !name.isEmpty else { throw RunStoreError.invalidName(name: name, reason: "it is empty") }
        guard name.utf8.count <= maxLength else {
            throw RunStoreError.invalidName(name: name, reason: "longer than \(maxLength) characters")
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard name.allSatisfy({ allowed.contains($0) }) else {
            throw RunStoreError.invalidName(name: name, reason: "use only letters, digits, '.', '_' and '-'")
        }
        guard let first = name.first, first.isLetter || first.isNumber else {
            throw RunStoreError.invalidName(name: name, reason: "it must start with a letter or digit")
        }
    }

    /// `KIND-YYYYMMDD-HHMMSS` in local time, then `-2`, `-3`, ... for `attempt` 1, 2, ...
    static func generated(kind: RunKind, at date: Date, attempt: Int) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let base = "\(kind.rawValue)-\(formatter.string(from: date))"
        return attempt == 0 ? base : "\(base)-\(attempt + 1)"
    }
}
