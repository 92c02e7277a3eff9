// Fetching Debian packages without installing them: `apt-get download` into a cache folder, then
// `dpkg-deb -x` into a folder of its own (gzip'd files expanded), so a second build reads only the
// cache. The licence comes from the package's own /usr/share/doc/PKG/copyright.
import Foundation

public struct ExtractedPackage {
    public var name: String
    public var version: String
    /// The folder the package's files were extracted into (its `usr/...` lies below).
    public var root: URL
}

public struct DebianPackages {
    public let cacheFolder: URL
    public let log: (String) -> Void

    public init(cacheFolder: URL, log: @escaping (String) -> Void) {
        self.cacheFolder = cacheFolder.appendingPathComponent("debian")
        self.log = log
    }

    /// The package's files, downloaded and extracted once (later calls reuse the cache, offline).
    public func fetch(_ name: String) throws -> ExtractedPackage {
        let fm = FileManager.default
        let debs = cacheFolder.appendingPathComponent("debs")
        do { try fm.createDirectory(at: debs, withIntermediateDirectories: true) } catch {
            throw CorpusError.unwritable(path: debs.path, reason: error.localizedDescription)
        }
        var deb = cachedDeb(name, in: debs)
        if deb == nil {
            log("downloading Debian package \(name) …")
            let r = try Subprocess.run("apt-get", ["-q", "-o", "APT::Sandbox::User=root", "download", name], in: debs)
            guard r.status == 0 else {
                let why = r.stderr.split(separator: "\n").last { $0.hasPrefix("E:") } ?? r.stderr.split(separator: "\n").last ?? "exit \(r.status)"
                throw CorpusError.packageUnavailable(name: name, reason: "apt-get download failed: \(why)")
            }
            deb = cachedDeb(name, in: debs)
        }
        guard let deb else { throw CorpusError.packageUnavailable(name: name, reason: "apt-get download left no .deb in \(debs.path)") }
        let info = try Subprocess.run("dpkg-deb", ["-f", deb.path, "Version"], in: debs)
        guard info.status == 0 else {
            throw CorpusError.packageUnavailable(name: name, reason: "\(deb.path) is not a readable .deb: \(info.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let version = info.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let root = cacheFolder.appendingPathComponent("extracted").appendingPathComponent("\(name)_\(version.replacingOccurrences(of: ":", with: "%3a"))")
        if !fm.fileExists(atPath: root.path) {
            let staging = root.deletingLastPathComponent().appendingPathComponent(".\(root.lastPathComponent).partial-\(getpid())")
            try? fm.removeItem(at: staging)
            do { try fm.createDirectory(at: staging, withIntermediateDirectories: true) } catch {
                throw CorpusError.unwritable(path: staging.path, reason: error.localizedDescription)
            }
            let x = try Subprocess.run("dpkg-deb", ["-x", deb.path, staging.path], in: debs)
            guard x.status == 0 else {
                try? fm.removeItem(at: staging)
                throw CorpusError.packageUnavailable(name: name, reason: "dpkg-deb -x failed: \(x.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            // Man pages and plain-text docs ship gzip'd; expand them once here.
            _ = try? Subprocess.run("gzip", ["-d", "-r", "-f", "-q", staging.path], in: debs)
            do { try fm.moveItem(at: staging, to: root) } catch {
                if !fm.fileExists(atPath: root.path) { throw CorpusError.unwritable(path: root.path, reason: error.localizedDescription) }
                try? fm.removeItem(at: staging)
            }
        }
        return ExtractedPackage(name: name, version: version, root: root)
    }

    private func cachedDeb(_ name: String, in folder: URL) -> URL? {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return files.filter { $0.hasPrefix(name + "_") && $0.hasSuffix(".deb") }.sorted().last.map { folder.appendingPathComponent($0) }
    }

    /// The package's copyright file and its licence line. A doc folder that is a link to another
    /// package's (gimp-help-ja → gimp-help-common) is followed by fetching that package too.
    public func licence(of package: ExtractedPackage) -> (file: String?, licence: String) {
        let doc = package.root.appendingPathComponent("usr/share/doc").appendingPathComponent(package.name)
        var copyright = doc.appendingPathComponent("copyright")
        var shownPath = "/usr/share/doc/\(package.name)/copyright"
        if !FileManager.default.fileExists(atPath: copyright.path),
           let target = try? FileManager.default.destinationOfSymbolicLink(atPath: doc.path), !target.contains("/"),
           let other = try? fetch(target) {
            copyright = other.root.appendingPathComponent("usr/share/doc").appendingPathComponent(target).appendingPathComponent("copyright")
            shownPath = "/usr/share/doc/\(target)/copyright (package \(target), linked from \(package.name))"
        }
        guard let data = FileManager.default.contents(atPath: copyright.path) else {
            return (nil, "unknown (no copyright file in the package)")
        }
        return (shownPath, Self.licenceLine(String(decoding: data, as: UTF8.self)))
    }

    /// The licence a copyright file states: machine-readable (DEP-5) files give their `License:`
    /// fields, others the first line that names a licence.
    public static func licenceLine(_ copyright: String) -> String {
        let lines = copyright.split(separator: "\n", omittingEmptySubsequences: false)
        let isDEP5 = lines.first { !$0.isEmpty }?.hasPrefix("Format:") == true
        if isDEP5 {
            var seen: [String] = []
            for line in lines where line.hasPrefix("License:") {
                let value = line.dropFirst("License:".count).trimmingCharacters(in: .whitespaces)
                if !value.isEmpty && !seen.contains(value) { seen.append(value) }
            }
            if !seen.isEmpty { return "License: " + seen.prefix(4).joined(separator: "; ") }
        }
        let keywords = ["licen", "public domain", "gpl", "copyleft", "gnu free documentation", "creative commons", "bsd", "mit"]
        for (n, line) in lines.enumerated() {
            let lower = line.lowercased()
            guard keywords.contains(where: { lower.contains($0) }) else { continue }
            // The sentence around the keyword: its paragraph, from the line before when that one runs on.
            var start = n
            if start > 0, !lines[start - 1].trimmingCharacters(in: .whitespaces).isEmpty,
               !lines[start - 1].trimmingCharacters(in: .whitespaces).hasSuffix(".") { start -= 1 }
            var end = n + 1
            while end < lines.count, end < n + 3, !lines[end].trimmingCharacters(in: .whitespaces).isEmpty,
                  !lines[end - 1].trimmingCharacters(in: .whitespaces).hasSuffix(".") { end += 1 }
            let text = lines[start..<end].map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
            return text.count > 200 ? String(text.prefix(200)) + "…" : text
        }
        return "unknown (no licence line in the copyright file)"
    }
}

/// Running a helper program (apt-get, dpkg-deb, bible) and capturing its output.
enum Subprocess {
    struct Result { var status: Int32; var stdout: String; var stderr: String; var stdoutData: Data }

    static func run(_ program: String, _ arguments: [String], in folder: URL? = nil,
                    environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        if program.hasPrefix("/") { p.executableURL = URL(fileURLWithPath: program); p.arguments = arguments }
        else { p.executableURL = URL(fileURLWithPath: "/usr/bin/env"); p.arguments = [program] + arguments }
        if let folder { p.currentDirectoryURL = folder }
        var env = ProcessInfo.processInfo.environment
        env["LC_ALL"] = "C.UTF-8"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            throw CorpusError.sourceFailed(name: program, reason: "cannot run \(program): \(error.localizedDescription)")
        }
        final class Box: @unchecked Sendable { var data = Data() }
        let box = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { box.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        let outData = box.data
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self), stdoutData: outData)
    }
}
