// Seconds as a person reads them: 45s, 3m05s, 2h04m ("-" when unknown, "?" when not finite).
import Foundation

public enum Durations {
    public static func text(_ seconds: TimeInterval?) -> String {
        guard let seconds else { return "-" }
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" + String(format: "%02ld", s % 60) + "s" }
        return "\(s / 3600)h" + String(format: "%02ld", (s % 3600) / 60) + "m"
    }
}
