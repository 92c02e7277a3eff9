// A bounded, seeded mutation test of every reader through the CLI (issue #15): fixture files are mutated
// (bytes flipped or set to boundary values, 64-bit fields overwritten with huge counts, cuts, repeats,
// structural characters in text) and fed to the command a user would run. Every mutant must end with
// exit status 0 or 1, no signal, within a time bound and a peak-memory bound, and with at most one error
// line on stderr — the last one when the status is 1 (a command's progress and notices may precede it).
// The long, coverage-guided version is scripts/fuzz (Fuzz/README.md); this one runs in `swift test`.
// HAYAI_MUTANTS sets the mutants per reader (default 20), HAYAI_MUTATION_SEED the seed.
import XCTest
import Foundation
import Basics
import TestSupport

final class HostileMutationTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-mutants") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    let mutantsPerReader = Int(ProcessInfo.processInfo.environment["HAYAI_MUTANTS"] ?? "") ?? 20
    let seed = UInt64(ProcessInfo.processInfo.environment["HAYAI_MUTATION_SEED"] ?? "") ?? 15
    let timeBound = 30.0
    let memoryBound = 1 << 30

    /// One mutation of `bytes`; `text` favours structural characters over raw bytes, `hot` is the prefix
    /// (a binary header) where half of the mutations land.
    static func mutate(_ bytes: [UInt8], text: Bool, hot: Int, _ random: inout SeededRandom) -> [UInt8] {
        var b = bytes
        guard !b.isEmpty else { return [UInt8(truncatingIfNeeded: random.next())] }
        func position() -> Int {
            let range = (random.next() % 2 == 0 && hot > 0) ? min(hot, b.count) : b.count
            return Int(random.next() % UInt64(range))
        }
        let boundaries: [UInt64] = [0, 1, 0x7f, 0x80, 0xff, 0x7fff_ffff, 0xffff_ffff, 1 << 40, 1 << 62, UInt64.max, 0x7fc0_0000]
        let rounds = 1 + Int(random.next() % 3)
        for _ in 0..<rounds {
            switch random.next() % (text ? 6 : 5) {
            case 0:   // flip bits
                let p = position(); b[p] ^= UInt8(1 << (random.next() % 8))
            case 1:   // a boundary value, 1 to 8 bytes wide, little-endian
                let p = position(), value = boundaries[Int(random.next() % UInt64(boundaries.count))]
                let width = [1, 2, 4, 8][Int(random.next() % 4)]
                for i in 0..<width where p + i < b.count { b[p + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
            case 2:   // cut
                b.removeSubrange(position()..<b.count)
                if b.isEmpty { return b }
            case 3:   // repeat a chunk
                let p = position(), n = min(b.count - p, 1 + Int(random.next() % 64))
                b.insert(contentsOf: b[p..<p + n], at: p)
            case 4:   // a random byte
                b[position()] = UInt8(truncatingIfNeeded: random.next())
            default:  // text: a structural character or a huge number
                let inserts = ["[", "]", "{", "}", "\"", ",", ":", "\n", "- ", "&a ", "*a", "1e999", "-1", "18446744073709551616",
                               "0.5", "null", "\\u0000", "\u{FEFF}", "        "]
                let piece = inserts[Int(random.next() % UInt64(inserts.count))]
                let p = position()
                if random.next() % 2 == 0 { b.insert(contentsOf: Array(piece.utf8), at: p) } else { b.replaceSubrange(p..<min(p + piece.utf8.count, b.count), with: Array(piece.utf8)) }
            }
            if b.isEmpty { return b }
        }
        return b
    }

    /// A reader under test: the fixture file it starts from, where the mutant goes, and the command that reads it.
    struct Reader {
        var name: String
        var original: URL
        /// The mutant's path; a folder holding it is prepared by `prepare`.
        var mutant: URL
        var text: Bool
        var hot: Int
        var arguments: [String]
        var prepare: () throws -> Void = {}
    }

    func copy(_ source: URL, to destination: URL) throws {
        try? FileManager.default.removeItem(at: destination)
        try FileManager.default.copyItem(at: source, to: destination)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: destination.path)
        if let files = try? FileManager.default.contentsOfDirectory(atPath: destination.path) {
            for f in files { try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: destination.appendingPathComponent(f).path) }
        }
    }

    func readers() throws -> [Reader] {
        let tiny = Fixtures.fixture("stablelm-tiny")
        let folder = scratch.appendingPathComponent("model")
        try copy(tiny, to: folder)
        let home = scratch.appendingPathComponent("home")
        let task = scratch.appendingPathComponent("task")
        try FileManager.default.createDirectory(at: task, withIntermediateDirectories: true)
        let yaml = Fixtures.fixture("lmeval_tinymc/tinymc.yaml"), items = Fixtures.fixture("lmeval_tinymc/tinymc.jsonl")
        func restoreTask() throws {
            try copy(yaml, to: task.appendingPathComponent("tinymc.yaml"))
            try copy(items, to: task.appendingPathComponent("tinymc.jsonl"))
        }
        func restoreModel() throws { try copy(tiny, to: folder) }
        var list = [
            Reader(name: "gguf", original: Fixtures.fixture("stablelm-tiny.q8_0.gguf"), mutant: scratch.appendingPathComponent("m.gguf"),
                   text: false, hot: 4096, arguments: ["logits", scratch.appendingPathComponent("m.gguf").path, "--ids", "1,2", "--json"]),
            Reader(name: "safetensors", original: tiny.appendingPathComponent("model.safetensors"), mutant: folder.appendingPathComponent("model.safetensors"),
                   text: false, hot: 4096, arguments: ["logits", folder.path, "--ids", "1,2", "--json"], prepare: restoreModel),
            Reader(name: "config.json", original: tiny.appendingPathComponent("config.json"), mutant: folder.appendingPathComponent("config.json"),
                   text: true, hot: 0, arguments: ["logits", folder.path, "--ids", "1,2", "--json"], prepare: restoreModel),
            Reader(name: "tokenizer.json", original: tiny.appendingPathComponent("tokenizer.json"), mutant: folder.appendingPathComponent("tokenizer.json"),
                   text: true, hot: 8192, arguments: ["tokenize", folder.path, "--text", "Hello, 世界 123"], prepare: restoreModel),
            Reader(name: "task yaml", original: yaml, mutant: task.appendingPathComponent("tinymc.yaml"),
                   text: true, hot: 0, arguments: ["eval", tiny.path, "--tasks", task.appendingPathComponent("tinymc.yaml").path, "--limit", "2"], prepare: restoreTask),
            Reader(name: "jsonl", original: items, mutant: task.appendingPathComponent("tinymc.jsonl"),
                   text: true, hot: 0, arguments: ["eval", tiny.path, "--tasks", task.appendingPathComponent("tinymc.yaml").path, "--limit", "3"], prepare: restoreTask),
        ]
        // A saved chat (as /save writes it) and a run store (written by an eval run first).
        let chat = scratch.appendingPathComponent("saved.json")
        let savedChat = """
        {"conversation":{"system":"Be brief.","turns":[{"assistant":"Hi","user":"こんにちは"},{"user":"2+2?"}]},\
        "model":"m","settings":{"maxTokens":8,"sampling":{"minP":0,"repeatPenalty":1,"seed":1,"temperature":0,"topK":0,"topP":1}},\
        "template":"chatml","version":1}
        """
        let chatSeed = scratch.appendingPathComponent("chat-seed.json")
        try savedChat.write(to: chatSeed, atomically: true, encoding: .utf8)
        list.append(Reader(name: "saved chat", original: chatSeed, mutant: chat, text: true, hot: 0,
                           arguments: ["chat", tiny.path, "--template", "chatml", "--load", chat.path]))
        let storeSeed = scratch.appendingPathComponent("store-seed.sqlite")
        _ = try HayaiBinary.runBounded(["eval", tiny.path, "--tasks", yaml.path, "--limit", "2", "--name", "seed"], timeout: timeBound,
                                       environment: ["HAYAI_HOME": home.path])
        let store = home.appendingPathComponent("hayai.sqlite")
        if FileManager.default.fileExists(atPath: store.path) {
            try FileManager.default.copyItem(at: store, to: storeSeed)
            let mutantHome = scratch.appendingPathComponent("mutant-home")
            try FileManager.default.createDirectory(at: mutantHome, withIntermediateDirectories: true)
            list.append(Reader(name: "run store", original: storeSeed, mutant: mutantHome.appendingPathComponent("hayai.sqlite"), text: false, hot: 8192,
                               arguments: ["runs", "list", "--home", mutantHome.path], prepare: {
                for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: mutantHome.appendingPathComponent("hayai.sqlite").path + suffix) }
            }))
        } else {
            XCTFail("hayai eval wrote no run store to start the run-store mutants from")
        }
        // SentencePiece models when scripts/fetch-sentencepiece-models has fetched them (the tests that need them fetch them).
        let cache = ProcessInfo.processInfo.environment["HAYAI_CACHE"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/hayai")
        let spm = cache.appendingPathComponent("sentencepiece/botchan_en_unigram_1000.model")
        if FileManager.default.fileExists(atPath: spm.path) {
            let mutant = scratch.appendingPathComponent("tokenizer.model")
            list.append(Reader(name: "sentencepiece", original: spm, mutant: mutant, text: false, hot: 2048,
                               arguments: ["tokenize", mutant.path, "--text", "Hello world"]))
        }
        return list
    }

    func testMutatedFilesGiveOneLineErrorsOrResultsNeverCrashes() throws {
        let start = Date()
        var random = SeededRandom(seed: seed)
        var failures: [String] = []
        var counts: [String: [Int32: Int]] = [:]
        for reader in try readers() {
            let original = [UInt8](try Data(contentsOf: reader.original))
            for i in 0..<mutantsPerReader {
                try reader.prepare()
                let mutant = Self.mutate(original, text: reader.text, hot: reader.hot, &random)
                try? FileManager.default.removeItem(at: reader.mutant)
                try Data(mutant).write(to: reader.mutant)
                let r = try HayaiBinary.runBounded(reader.arguments, timeout: timeBound,
                                                   environment: ["HAYAI_HOME": scratch.appendingPathComponent("home").path])
                counts[reader.name, default: [:]][r.status, default: 0] += 1
                var problems: [String] = []
                if r.timedOut { problems.append("ran past \(timeBound) s") }
                if let s = r.signal { problems.append("killed by signal \(s)") }
                if r.status != 0 && r.status != 1 { problems.append("exit status \(r.status)") }
                let errorLines = r.stderrLines.filter { $0.hasPrefix("Error") || $0.contains("Fatal error") || $0.contains("Stack dump") || $0.contains("error:") }
                if errorLines.count > 1 { problems.append("\(errorLines.count) error lines") }
                if r.status == 1 && (errorLines.count != 1 || r.stderrLines.last.map { !$0.hasPrefix("Error: ") } ?? true) {
                    problems.append("exit status 1 without one closing 'Error: ' line")
                }
                if r.status == 0 && !errorLines.isEmpty { problems.append("exit status 0 with an error line") }
                if r.peakRSSBytes > memoryBound { problems.append("peak RSS \(r.peakRSSBytes >> 20) MB") }
                if !problems.isEmpty {
                    let keep = scratch.deletingLastPathComponent().appendingPathComponent("hayai-mutant-\(reader.name.replacingOccurrences(of: " ", with: "-"))-\(i)")
                    try? Data(mutant).write(to: keep)
                    failures.append("\(reader.name) mutant \(i) (kept at \(keep.path)): \(problems.joined(separator: ", ")): \(r.stderr.prefix(400))")
                }
            }
        }
        print("mutants by reader and exit status: \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.sorted { $0.key < $1.key })" }.joined(separator: "; ")) in \(Int(Date().timeIntervalSince(start))) s")
        XCTAssertEqual(failures, [], failures.joined(separator: "\n"))
        // The mutants are not all rejected the same way: some still load (exit 0) for the tolerant readers.
        XCTAssertGreaterThan(counts.values.reduce(0) { $0 + ($1[1] ?? 0) }, 0)
    }
}
