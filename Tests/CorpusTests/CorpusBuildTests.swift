// Building a corpus: dedup, invalid UTF-8 lines reported with file:line, an empty corpus refused,
// the manifest's contents, the seeded split, and (when apt can download) a Debian package end to end.
import XCTest
import Foundation
@testable import Corpus
import TestSupport

final class CorpusBuildTests: XCTestCase {
    var scratch: URL!
    var log: [String] = []

    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-corpus"); log = [] }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func context() -> SourceContext {
        SourceContext(cacheFolder: scratch.appendingPathComponent("cache")) { [unowned self] in self.log.append($0) }
    }

    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = scratch.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func testInvalidUTF8LinesAreReportedWithFileAndLineAndCounted() throws {
        var bytes = Array("first line is fine and long enough\n".utf8)
        bytes += [0x62, 0x61, 0x64, 0xFF, 0xFE, 0x0A]  // line 2
        bytes += Array("third line survives as well\n".utf8)
        bytes += [0xC3, 0x0A]  // line 4: a truncated sequence
        let path = try file("mixed.txt", bytes)
        let m = try CorpusBuilder.build(sources: [TextFileSource(path: path)], into: scratch.appendingPathComponent("c").path,
                                        options: CorpusBuildOptions(), context: context())
        XCTAssertEqual(m.sources[0].invalidUTF8Lines, 2)
        XCTAssertTrue(log.contains { $0.contains("\(path):2:") && $0.contains("invalid UTF-8") }, "\(log)")
        XCTAssertTrue(log.contains { $0.contains("\(path):4:") }, "\(log)")
        let docs = try CorpusBuilder.documents(corpus: scratch.appendingPathComponent("c").path, split: "train")
            + CorpusBuilder.documents(corpus: scratch.appendingPathComponent("c").path, split: "val")
        XCTAssertEqual(docs.joined(separator: "\n\n").contains("first line"), true)
        XCTAssertFalse(docs.joined().contains("bad"))
    }

    func testDuplicateDocumentsAndParagraphsAreRemoved() throws {
        let boiler = "This paragraph is boilerplate that every page repeats, long enough to count for dedup."
        let text = [
            "Document one.\n\n" + boiler,
            "Document  two\nwith more words.\n\n" + boiler,
            "Document one.\n\n" + boiler,           // exact duplicate
            "Document   one.\n\n" + boiler + "  ",  // differs only in whitespace
            "Cafe\u{301} is NFC after cleaning, ok.",
            "Caf\u{E9} is NFC after cleaning, ok.",  // same after NFC
        ].joined(separator: "\n<|endoftext|>\n")
        let path = try file("dups.txt", Array(text.utf8))
        var options = CorpusBuildOptions()
        options.valFraction = 0
        let folder = scratch.appendingPathComponent("c").path
        let m = try CorpusBuilder.build(sources: [TextFileSource(path: path)], into: folder, options: options, context: context())
        let s = m.sources[0]
        XCTAssertEqual(s.rawDocuments, 6)
        XCTAssertEqual(s.duplicateDocuments, 3)
        XCTAssertEqual(s.duplicateParagraphs, 1)
        XCTAssertEqual(s.documents, 3)
        let docs = try CorpusBuilder.documents(corpus: folder, split: "train")
        XCTAssertEqual(docs.filter { $0.contains(boiler) }.count, 1)
        XCTAssertTrue(docs.contains("Caf\u{E9} is NFC after cleaning, ok."))
        XCTAssertEqual(m.splits["train"]!.bytes, docs.reduce(0) { $0 + $1.utf8.count })
    }

    func testEmptyCorpusIsAClearError() throws {
        let path = try file("empty.txt", Array("  \n\n".utf8))
        XCTAssertThrowsError(try CorpusBuilder.build(sources: [TextFileSource(path: path)], into: scratch.appendingPathComponent("c").path,
                                                     options: CorpusBuildOptions(), context: context())) { error in
            guard case CorpusError.emptyCorpus = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("empty.txt"), "\(error)")
        }
        XCTAssertThrowsError(try CorpusBuilder.build(sources: [TextFileSource(path: scratch.appendingPathComponent("missing.txt").path)],
                                                     into: scratch.appendingPathComponent("c").path,
                                                     options: CorpusBuildOptions(), context: context())) { error in
            XCTAssertTrue("\(error)".contains("missing.txt"), "\(error)")
        }
    }

    func testJSONLManifestSplitAndByteCap() throws {
        var lines: [String] = []
        for i in 0..<400 { lines.append("{\"text\": \"Document number \(i) says something unique \(i * 7919).\", \"id\": \(i)}") }
        lines.insert("not json", at: 10)
        lines.insert("{\"other\": 1}", at: 20)
        let path = try file("docs.jsonl", Array(lines.joined(separator: "\n").utf8))
        var options = CorpusBuildOptions()
        options.valFraction = 0.1
        options.seed = 7
        let folder = scratch.appendingPathComponent("c").path
        let m = try CorpusBuilder.build(sources: [JSONLSource(path: path)], into: folder, options: options, context: context())
        XCTAssertEqual(m.sources[0].kind, "jsonl")
        XCTAssertEqual(m.sources[0].malformedLines, 2)
        XCTAssertTrue(log.contains { $0.contains("\(path):11:") }, "\(log)")
        XCTAssertEqual(m.sources[0].documents, 400)
        let train = m.splits["train"]!, val = m.splits["val"]!
        XCTAssertEqual(train.documents + val.documents, 400)
        XCTAssertTrue((20...60).contains(val.documents), "val \(val.documents)")
        let reloaded = try CorpusManifest.load(corpus: folder)
        XCTAssertEqual(reloaded, m)
        // Same seed, same split.
        let again = try CorpusBuilder.build(sources: [JSONLSource(path: path)], into: folder + "2", options: options, context: context())
        XCTAssertEqual(try CorpusBuilder.documents(corpus: folder + "2", split: "val"), try CorpusBuilder.documents(corpus: folder, split: "val"))
        XCTAssertEqual(again.splits["val"]!.documents, val.documents)
        // A byte cap.
        options.maxBytes = 5000
        let capped = try CorpusBuilder.build(sources: [JSONLSource(path: path)], into: folder + "3", options: options, context: context())
        XCTAssertLessThanOrEqual(capped.sources[0].bytes, 5000)
        XCTAssertGreaterThan(capped.sources[0].bytes, 4000)
        XCTAssertEqual(capped.sources[0].droppedByByteCap, 400 - capped.sources[0].documents)
    }

    func testLicenceLines() {
        XCTAssertEqual(DebianPackages.licenceLine("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2.0+ or CC-BY-SA-3.0\n\nFiles: debian/*\nLicense: GPL-2.0+\n"),
                       "License: GPL-2.0+ or CC-BY-SA-3.0; GPL-2.0+")
        XCTAssertEqual(DebianPackages.licenceLine("Upstream says:\nThis text is in\nthe public domain.\n"), "This text is in the public domain.")
    }

    /// A small Debian package end to end, when apt can download it here.
    func testDebianPackageSourceEndToEnd() throws {
        let source = DebianPackageSource(package: "cfi-en", language: "en",
                                         extraction: .html(folder: "usr/share/doc/cfi-en/html", extensions: ["htm", "html"]))
        let cache = ProcessInfo.processInfo.environment["HAYAI_CACHE"].map { URL(fileURLWithPath: $0) } ?? scratch.appendingPathComponent("cache")
        let ctx = SourceContext(cacheFolder: cache) { [unowned self] in self.log.append($0) }
        let folder = scratch.appendingPathComponent("c").path
        let m: CorpusManifest
        do { m = try CorpusBuilder.build(sources: [source], into: folder, options: CorpusBuildOptions(), context: ctx) } catch {
            throw XCTSkip("apt-get download cfi-en is not possible here: \(error)")
        }
        let s = m.sources[0]
        XCTAssertEqual(s.package, "cfi-en")
        XCTAssertNotNil(s.packageVersion)
        XCTAssertEqual(s.copyrightFile, "/usr/share/doc/cfi-en/copyright")
        XCTAssertTrue(s.licence.contains("public domain"), s.licence)
        XCTAssertGreaterThan(s.bytes, 100_000)
        let docs = try CorpusBuilder.documents(corpus: folder, split: "train")
        XCTAssertFalse(docs.contains { $0.contains("<p>") || $0.contains("</") }, "markup left in the text")
    }
}
