// The executable's training stop request (Ctrl-C saves a checkpoint after the step) must give the
// signals back when training ends: the quickstart runs evals and a chat in the same process after it.
import XCTest
import Foundation
@testable import hayai

final class StopRequestTests: XCTestCase {
    private func handler(of sig: Int32) -> sighandler_t? {
        var old = sigaction()
        sigaction(sig, nil, &old)
        return old.__sigaction_handler.sa_handler
    }

    func testUninstallRestoresTheDefaultActionsOfSIGINTAndSIGTERM() {
        let stop = StopRequest()
        stop.install()
        XCTAssertEqual(unsafeBitCast(handler(of: SIGTERM), to: Int.self), unsafeBitCast(SIG_IGN, to: Int.self),
                       "while training, SIGTERM goes to the stop request")
        stop.uninstall()
        for sig in [SIGINT, SIGTERM] {
            XCTAssertEqual(unsafeBitCast(handler(of: sig), to: Int.self), unsafeBitCast(SIG_DFL, to: Int.self), "signal \(sig)")
        }
    }
}
