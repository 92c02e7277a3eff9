// Pre-tokenization: splitting text into words before BPE. A pre-tokenizer is a sequence of rules;
// each rule splits every piece the previous rule produced, and both its matches and the text between
// them become pieces (Hugging Face's `Split(behavior: Isolated)`, llama.cpp's `unicode_regex_split`).
// The common regexes are matched by hand-written scanners (a general regex engine is ~10× slower);
// other patterns fall back to NSRegularExpression.
import Foundation

/// How a regex split treats its matches (Hugging Face `SplitDelimiterBehavior`).
enum SplitBehavior: String {
    case isolated = "Isolated", removed = "Removed", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

enum PreTokenizerRule {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// Llama 3 (maxDigits 3) and Qwen 2 (maxDigits 1):
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3(maxDigits: Int)
    /// `[\p{P}<extra>]+` (llama.cpp's default BPE pre-tokenizer starts with `[\p{P}\$\+<=>\^~\|]+`).
    case punctuationRuns(extra: Set<UInt32>)
    /// `\p{N}+`
    case numberRuns
    /// `\p{N}` (Hugging Face `Digits(individual_digits: true)`).
    case eachNumber
    /// `[0-9][0-9][0-9]`
    case asciiDigitTriples
    /// Any other pattern.
    case regex(NSRegularExpression, behavior: SplitBehavior, invert: Bool)

    static let gpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

    /// The rule for a Hugging Face `Split` regex pattern with the given behaviour.
    static func forPattern(_ pattern: String, behavior: SplitBehavior, invert: Bool) throws -> PreTokenizerRule {
        if behavior == .isolated && !invert {
            switch pattern {
            case gpt2Pattern, String(gpt2Pattern.dropLast(4)):
                return .gpt2
            case "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+":
                return .llama3(maxDigits: 3)
            case "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+":
                return .llama3(maxDigits: 1)
            case "\\p{N}": return .eachNumber
            case "\\p{N}+": return .numberRuns
            default: break
            }
        }
        return .regex(try NSRegularExpression(pattern: pattern), behavior: behavior, invert: invert)
    }

    /// Appends the pieces of `range` to `out`.
    func split(_ text: ScalarText, _ range: Range<Int>, into out: inout [Range<Int>]) {
        switch self {
        case .gpt2: splitGPT2(text, range, into: &out)
        case .llama3(let maxDigits): splitLlama3(text, range, maxDigits: maxDigits, into: &out)
        case .punctuationRuns(let extra):
            splitRuns(text, range, into: &out) { i in
                text.classes[i] & ScalarClass.punctuation != 0 || extra.contains(text.scalars[i]) ? 1 : 0
            } continuing: { i in
                text.classes[i] & ScalarClass.punctuation != 0 || extra.contains(text.scalars[i])
            }
        case .numberRuns:
            splitRuns(text, range, into: &out) { i in text.classes[i] & ScalarClass.number != 0 ? 1 : 0 }
                continuing: { i in text.classes[i] & ScalarClass.number != 0 }
        case .eachNumber:
            splitRuns(text, range, into: &out) { i in text.classes[i] & ScalarClass.number != 0 ? 1 : 0 }
                continuing: { _ in false }
        case .asciiDigitTriples:
            splitRuns(text, range, into: &out) { i in
                func digit(_ j: Int) -> Bool { j < range.upperBound && (0x30...0x39).contains(text.scalars[j]) }
                return digit(i) && digit(i + 1) && digit(i + 2) ? 3 : 0
            } continuing: { _ in false }
        case .regex(let regex, let behavior, let invert):
            splitRegex(text, range, regex: regex, behavior: behavior, invert: invert, into: &out)
        }
    }
}

// MARK: - Scanners

/// Matches found by `matchLength` (the length of a match starting at i, 0 for none), extended while
/// `continuing` holds; matches and the gaps between them become pieces.
private func splitRuns(_ text: ScalarText, _ range: Range<Int>, into out: inout [Range<Int>],
                       matchLength: (Int) -> Int, continuing: (Int) -> Bool) {
    var gapStart = range.lowerBound
    var i = range.lowerBound
    while i < range.upperBound {
        let n = matchLength(i)
        if n == 0 { i += 1; continue }
        var end = i + n
        while end < range.upperBound && continuing(end) { end += 1 }
        if i > gapStart { out.append(gapStart..<i) }
        out.append(i..<end)
        i = end
        gapStart = end
    }
    if gapStart < range.upperBound { out.append(gapStart..<range.upperBound) }
}

/// The general case, through NSRegularExpression (UTF-16 offsets mapped back to scalar indexes).
private func splitRegex(_ text: ScalarText, _ range: Range<Int>, regex: NSRegularExpression,
                        behavior: SplitBehavior, invert: Bool, into out: inout [Range<Int>]) {
    guard !range.isEmpty else { return }
    let piece = text.string(range)
    // utf16Index[k] = the scalar index (relative to range) that starts at UTF-16 offset k.
    var scalarAtUTF16: [Int] = []
    scalarAtUTF16.reserveCapacity(range.count * 2 + 1)
    for (i, s) in text.scalars[range].enumerated() {
        scalarAtUTF16.append(i)
        if s > 0xFFFF { scalarAtUTF16.append(i) }
    }
    scalarAtUTF16.append(range.count)
    let base = range.lowerBound
    var pieces: [(Range<Int>, isMatch: Bool)] = []
    var cursor = 0
    for m in regex.matches(in: piece, range: NSRange(location: 0, length: (piece as NSString).length)) {
        let start = scalarAtUTF16[m.range.location], stop = scalarAtUTF16[m.range.location + m.range.length]
        if start == stop { continue }
        if start > cursor { pieces.append((base + cursor..<base + start, false)) }
        pieces.append((base + start..<base + stop, true))
        cursor = stop
    }
    if cursor < range.count { pieces.append((base + cursor..<range.upperBound, false)) }
    if invert { pieces = pieces.map { ($0.0, !$0.isMatch) } }

    switch behavior {
    case .isolated:
        out.append(contentsOf: pieces.map(\.0))
    case .removed:
        out.append(contentsOf: pieces.filter { !$0.isMatch }.map(\.0))
    case .mergedWithPrevious:
        var pending: Range<Int>? = nil
        for (r, isMatch) in pieces {
            if isMatch, let p = pending { pending = p.lowerBound..<r.upperBound; out.append(pending!); pending = nil }
            else { if let p = pending { out.append(p) }; pending = r }
        }
        if let p = pending { out.append(p) }
    case .mergedWithNext:
        var pending: Range<Int>? = nil
        for (r, isMatch) in pieces {
            if isMatch { if let p = pending { out.append(p) }; pending = r }
            else if let p = pending { out.append(p.lowerBound..<r.upperBound); pending = nil }
            else { out.append(r) }
        }
        if let p = pending { out.append(p) }
    case .contiguous:
        var current: (Range<Int>, Bool)? = nil
        for (r, isMatch) in pieces {
            if let c = current, c.1 && isMatch { current = (c.0.lowerBound..<r.upperBound, true) }
            else { if let c = current { out.append(c.0) }; current = (r, isMatch) }
        }
        if let c = current { out.append(c.0) }
    }
}

/// Splits a piece of text into words by applying the rules in order.
func preTokenize(_ text: ScalarText, rules: [PreTokenizerRule]) -> [Range<Int>] {
    var pieces: [Range<Int>] = text.count > 0 ? [0..<text.count] : []
    var next: [Range<Int>] = []
    for rule in rules {
        next.removeAll(keepingCapacity: true)
        for piece in pieces { rule.split(text, piece, into: &next) }
        swap(&pieces, &next)
    }
    return pieces
}
