// The default bilingual corpus, assembled from Debian packages: how each package's files become
// documents (a Bible chapter, a Jargon File entry, an HTML page, a man page).
import Foundation

public struct DebianPackageSource: CorpusSource {
    public enum Extraction {
        /// The King James Bible, decoded by the `bible` program of package `bible-kjv`; one document a chapter.
        case bibleKJV
        /// The Jargon File's plain text; one document an entry.
        case jargon
        /// HTML pages below a folder (`ext` the file endings); one document a page.
        case html(folder: String, extensions: [String])
        /// man pages (roff) below a folder; one document a page.
        case manPages(folder: String)
    }

    public var name: String
    public var package: String
    public var language: String
    public var extraction: Extraction

    public init(name: String? = nil, package: String, language: String, extraction: Extraction) {
        self.name = name ?? package
        self.package = package
        self.language = language
        self.extraction = extraction
    }

    public func load(_ context: SourceContext) throws -> LoadedSource {
        let packages = DebianPackages(cacheFolder: context.cacheFolder, log: context.log)
        let extracted = try packages.fetch(package)
        let (copyrightFile, licence) = packages.licence(of: extracted)
        var record = CorpusManifest.SourceRecord(name: name, kind: "debian-package", language: language, licence: licence,
                                                 package: package, packageVersion: extracted.version, copyrightFile: copyrightFile)
        let root = extracted.root
        var documents: [String] = []
        switch extraction {
        case .bibleKJV:
            let program = try packages.fetch("bible-kjv")
            documents = try Self.bibleChapters(program: program.root.appendingPathComponent("usr/bin/bible"),
                                               data: root.appendingPathComponent("usr/lib"), sourceName: name)
        case .jargon:
            let file = root.appendingPathComponent("usr/share/doc/jargon-text/jargon.txt").path
            documents = Self.jargonEntries(try context.readText(file, into: &record))
        case .html(let folder, let extensions):
            for file in try Self.files(below: root.appendingPathComponent(folder), extensions: extensions, sourceName: name) {
                documents.append(HTMLText.text(fromHTML: try context.readText(file.path, html: true, into: &record)))
            }
        case .manPages(let folder):
            for file in try Self.files(below: root.appendingPathComponent(folder), extensions: nil, sourceName: name) {
                documents.append(RoffText.text(fromRoff: try context.readText(file.path, into: &record)))
            }
        }
        record.rawDocuments = documents.count
        return LoadedSource(record: record, documents: documents)
    }

    /// Regular files (not links) below a folder, sorted, optionally by ending.
    static func files(below folder: URL, extensions: [String]?, sourceName: String) throws -> [URL] {
        let fm = FileManager.default
        guard let walker = fm.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey, .isSymbolicLinkKey]) else {
            throw CorpusError.sourceFailed(name: sourceName, reason: "no folder \(folder.path) in the package")
        }
        var found: [URL] = []
        for case let url as URL in walker {
            let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .isSymbolicLinkKey])
            guard values?.isRegularFile == true, values?.isSymbolicLink != true else { continue }
            if let extensions, !extensions.contains(url.pathExtension.lowercased()) { continue }
            found.append(url)
        }
        guard !found.isEmpty else { throw CorpusError.sourceFailed(name: sourceName, reason: "no files below \(folder.path)") }
        return found.sorted { $0.path < $1.path }
    }

    /// Runs `bible -f` over Genesis 1:1 to Revelation 22:21 (one verse a line, "Ge1:1 In the beginning…")
    /// and groups the verses by chapter.
    static func bibleChapters(program: URL, data: URL, sourceName: String) throws -> [String] {
        let r = try Subprocess.run(program.path, ["-f", "-p", data.path, "gen1:1-rev22:21"], in: data)
        guard r.status == 0, !r.stdout.isEmpty else {
            throw CorpusError.sourceFailed(name: sourceName, reason: "the bible decoder \(program.path) failed (exit \(r.status)): \(r.stderr.prefix(200))")
        }
        var chapters: [String] = []
        var currentChapter = "", verses: [Substring] = []
        for line in r.stdout.split(separator: "\n") {
            guard let space = line.firstIndex(of: " "), let colon = line[..<space].lastIndex(of: ":") else { continue }
            let chapter = String(line[..<colon])
            if chapter != currentChapter && !verses.isEmpty { chapters.append(verses.joined(separator: "\n")); verses.removeAll() }
            currentChapter = chapter
            verses.append(line[line.index(after: space)...])
        }
        if !verses.isEmpty { chapters.append(verses.joined(separator: "\n")) }
        return chapters
    }

    /// The Jargon File: entries start with an indented ":term:" line; the front-matter index is dropped.
    static func jargonEntries(_ text: String) -> [String] {
        var entries: [String] = []
        var current: [Substring] = []
        var started = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let t = line.drop { $0 == " " }
            let isHead = t.hasPrefix(":") && t.dropFirst().contains(":") && line.count - t.count <= 4
            if isHead {
                if started && !current.isEmpty { entries.append(dedent(current)) }
                current = [t.dropFirst()]
                started = true
            } else if started {
                current.append(line)
            }
        }
        if !current.isEmpty { entries.append(dedent(current)) }
        return entries
    }

    private static func dedent(_ lines: [Substring]) -> String {
        lines.map { $0.hasPrefix("   ") ? $0.dropFirst(3) : $0 }.joined(separator: "\n")
    }
}

public enum DefaultCorpus {
    /// English and Japanese sources, in the order they are read (earlier sources win duplicates).
    public static var sources: [DebianPackageSource] {
        [
            DebianPackageSource(package: "bible-kjv-text", language: "en", extraction: .bibleKJV),
            DebianPackageSource(package: "jargon-text", language: "en", extraction: .jargon),
            DebianPackageSource(package: "cfi-en", language: "en",
                                extraction: .html(folder: "usr/share/doc/cfi-en/html", extensions: ["htm", "html"])),
            DebianPackageSource(name: "debian-handbook (en-US)", package: "debian-handbook", language: "en",
                                extraction: .html(folder: "usr/share/doc/debian-handbook/html/en-US", extensions: ["html"])),
            DebianPackageSource(package: "manpages-ja", language: "ja", extraction: .manPages(folder: "usr/share/man/ja")),
            DebianPackageSource(package: "manpages-ja-dev", language: "ja", extraction: .manPages(folder: "usr/share/man/ja")),
            DebianPackageSource(name: "debian-handbook (ja-JP)", package: "debian-handbook", language: "ja",
                                extraction: .html(folder: "usr/share/doc/debian-handbook/html/ja-JP", extensions: ["html"])),
            DebianPackageSource(package: "debian-reference-ja", language: "ja",
                                extraction: .html(folder: "usr/share/debian-reference", extensions: ["html"])),
            DebianPackageSource(package: "gimp-help-ja", language: "ja",
                                extraction: .html(folder: "usr/share/gimp/2.0/help/ja", extensions: ["html"])),
        ]
    }

    /// The download cache: HAYAI_CACHE, else ~/.cache/hayai.
    public static var cacheFolder: URL {
        if let c = ProcessInfo.processInfo.environment["HAYAI_CACHE"], !c.isEmpty { return URL(fileURLWithPath: c) }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/hayai")
    }
}
