// The progress line's text: whole lines at an interval when not on a terminal, one redrawn line on one.
import XCTest
@testable import Workbench

final class ProgressLineTests: XCTestCase {
    final class Capture {
        var text = ""
        var now: TimeInterval = 0
    }

    func testPlainLinesComeAtAnIntervalWithStepLossSpeedAndETA() {
        let capture = Capture()
        let line = ProgressLine(label: "pretrain", total: 1000, isTerminal: false, plainInterval: 10,
                                write: { capture.text += $0 }, clock: { capture.now })
        line.update(step: 0, loss: 10.8123, tokensPerSecond: 1234.4)
        capture.now = 5
        line.update(step: 50, loss: 7.5, tokensPerSecond: 1300)   // within the interval: held back
        capture.now = 10
        line.update(step: 100, loss: 6.25, tokensPerSecond: 1301.6, extra: [("lr", "3.0e-04")])
        capture.now = 12
        line.update(step: 120, loss: 6.0, tokensPerSecond: 1290)  // held back, shown by finish
        line.finish("saved runs/tiny")
        XCTAssertEqual(capture.text, """
            pretrain step 0/1000 0.0% | loss 10.8123 | 1,234 tok/s | 0s | eta ?
            pretrain step 100/1000 10.0% | loss 6.2500 | 1,302 tok/s | 10s | eta 1m30s | lr 3.0e-04
            pretrain step 120/1000 12.0% | loss 6.0000 | 1,290 tok/s | 12s | eta 1m28s
            saved runs/tiny

            """)
        XCTAssertFalse(capture.text.contains("\r"), "no carriage returns in a log file")
    }

    func testTheLastStepIsAlwaysShownAndUnknownTotalsHaveNoETA() {
        let capture = Capture()
        let line = ProgressLine(label: "eval", total: 3, isTerminal: false, write: { capture.text += $0 }, clock: { capture.now })
        line.update(step: 1)
        capture.now = 1
        line.update(step: 3)
        XCTAssertEqual(capture.text.split(separator: "\n").last, "eval step 3/3 100.0% | 1s | eta 0s")
        XCTAssertEqual(ProgressLine.format(label: "sft", step: 7, total: nil, loss: nil, tokensPerSecond: nil, elapsed: 7300, eta: nil),
                       "sft step 7 | 2h01m")
    }

    func testOnATerminalTheLineIsRedrawnInPlace() {
        let capture = Capture()
        let line = ProgressLine(label: "pretrain", total: 10, isTerminal: true, redrawInterval: 0.1,
                                write: { capture.text += $0 }, clock: { capture.now })
        line.update(step: 1, loss: 3)
        capture.now = 0.05
        line.update(step: 2, loss: 2.9)   // too soon to redraw
        capture.now = 0.2
        line.update(step: 3, loss: 2.8)
        line.finish()
        let draws = capture.text.components(separatedBy: "\r").dropFirst()
        XCTAssertEqual(draws.count, 2)
        XCTAssertTrue(draws.allSatisfy { $0.contains("\u{1B}[K") })
        XCTAssertTrue(capture.text.hasSuffix("\u{1B}[K\n"), "finish moves to the next line")
        XCTAssertEqual(ProgressLine.grouped(1_234_567), "1,234,567")
        XCTAssertEqual(ProgressLine.duration(185), "3m05s")
    }
}
