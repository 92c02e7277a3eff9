// Streaming a format's newline marker back to "\n" (rinna's "<NL>"): generated text arrives in token
// pieces that may cut the marker ("<", "NL>"), so a tail that could still become the marker is held
// until the next piece or the end.

struct NewlineMarkerStream {
    let marker: String
    private var held = ""

    init(marker: String) { self.marker = marker }

    /// The text that can be shown now, markers replaced.
    mutating func push(_ piece: String) -> String {
        let text = (held + piece).replacingOccurrences(of: marker, with: "\n")
        // Hold the longest tail that is a proper prefix of the marker.
        var keep = 0
        for length in stride(from: min(marker.count - 1, text.count), through: 1, by: -1) where marker.hasPrefix(text.suffix(length)) {
            keep = length
            break
        }
        held = String(text.suffix(keep))
        return String(text.dropLast(keep))
    }

    /// Whatever is still held at the end of the answer.
    mutating func finish() -> String {
        defer { held = "" }
        return held
    }
}
