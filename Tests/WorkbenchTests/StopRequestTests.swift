// Training's stop request (Ctrl-C saves a checkpoint after the step) must give the
// signals back when training ends: the quickstart runs evals and a chat in the same process after it.
import XCTest
import Foundation
import Workbench

final class StopRequestTests: XCTestCase {
    private func handler(of sig: Int32) -> sighandler_t? {
        var old = sigaction()
        sigaction(sig, nil, &old)
        return old.__sigaction_handler.sa_handler
    }

    func testUninstallRestoresTheDefaultActionsOfSIGINTAndSIGTERM() {
        let stop = StopRequest()
        stop.install()
        // The signal sources register on libdispatch's own queue: give them time to take the signals.
        Thread.sleep(forTimeInterval: 0.3)
        for sig in [SIGINT, SIGTERM] {
            XCTAssertNotEqual(unsafeBitCast(handler(of: sig), to: Int.self), unsafeBitCast(SIG_DFL, to: Int.self),
                              "while training, signal \(sig) goes to the stop request")
        }
        stop.uninstall()
        Thread.sleep(forTimeInterval: 0.1)
        for sig in [SIGINT, SIGTERM] {
            XCTAssertEqual(unsafeBitCast(handler(of: sig), to: Int.self), unsafeBitCast(SIG_DFL, to: Int.self), "signal \(sig)")
        }
    }
}

/// Generated pretraining run names name a checkpoint folder too: two runs started within the same
/// second must not get the same one.
final class GeneratedRunNameTests: XCTestCase {
    func testAPretrainNameTakenByACheckpointFolderIsNotGivenAgain() throws {
        let workspace = FileManager.default.temporaryDirectory.appendingPathComponent("hayai-names-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: workspace) }
        var seen: Set<String> = []
        for _ in 0..<3 {
            let name = try RunNaming.unused("pretrain", workspace: workspace)
            XCTAssertFalse(seen.contains(name), "\(name) given twice")
            seen.insert(name)
            try FileManager.default.createDirectory(at: workspace.appendingPathComponent("checkpoints/\(name)"), withIntermediateDirectories: true)
        }
    }
}
