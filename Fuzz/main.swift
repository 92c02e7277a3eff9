// hayai-fuzz: the fuzz targets of FuzzTargets.swift. Built by `scripts/fuzz` with libFuzzer and
// AddressSanitizer (-DHAYAI_LIBFUZZER), it runs libFuzzer on the target named by $HAYAI_FUZZ_TARGET
// (libFuzzer's own options and corpus folders are the arguments; HAYAI_FUZZ_MAKE_SEEDS=DIR writes the
// target's generated seeds instead). In an ordinary build it replays inputs: `hayai-fuzz TARGET FILE...`
// prints each file's outcome (a crash found by fuzzing reproduces here); `hayai-fuzz --seeds TARGET DIR`.
import Foundation

#if HAYAI_LIBFUZZER
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

nonisolated(unsafe) var fuzzTarget: FuzzTarget = .gguf

guard let name = ProcessInfo.processInfo.environment["HAYAI_FUZZ_TARGET"], let target = FuzzTarget(rawValue: name) else {
    FileHandle.standardError.write(Data("set HAYAI_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
    exit(2)
}
fuzzTarget = target
if let seeds = ProcessInfo.processInfo.environment["HAYAI_FUZZ_MAKE_SEEDS"] {
    do { try target.makeSeeds(in: URL(fileURLWithPath: seeds)); exit(0) } catch { print("cannot write seeds: \(error)"); exit(1) }
}
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { bytes, count in
    fuzzTarget.run(count == 0 ? Data() : Data(bytes: bytes!, count: count))
    return 0
})
#else
var arguments = CommandLine.arguments.dropFirst()
if arguments.first == "--seeds", arguments.count == 3, let target = FuzzTarget(rawValue: arguments[arguments.startIndex + 1]) {
    do { try target.makeSeeds(in: URL(fileURLWithPath: arguments.last!)); exit(0) } catch { print("cannot write seeds: \(error)"); exit(1) }
}
guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count >= 2 else {
    print("usage: hayai-fuzz TARGET FILE... (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
    exit(2)
}
for path in arguments.dropFirst() {
    guard let data = FileManager.default.contents(atPath: path) else { print("\(path): cannot read"); continue }
    if let error = target.run(data) { print("\(path): error: \("\(error)".split(separator: "\n").first ?? "")") } else { print("\(path): accepted") }
}
#endif
